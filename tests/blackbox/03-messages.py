"""03 messages: room and private messages across TCP and WebSocket, IRCv3
tags (echo-message, server-time, msgid, client-only tags, TAGMSG), AWAY,
NOTICE, and the PRIVMSG error numerics (over each transport)."""
import re

import pytest

from salonlib import (PROFILE_RE, SERVER_NAME, SERVER_TIME_RE, TARGET,
                      TRANSPORT_PAIRS, allow_private, other_transport,
                      salon_only, sync_all, uniq)

ALL_TAGS = ["message-tags", "server-time", "echo-message"]


def room():
    return "#" + uniq("msg")


def members(srv, r, specs):
    """specs: list of (transport, caps). Registers and joins all to r."""
    out = []
    for i, (kind, caps) in enumerate(specs):
        c = srv.tcp() if kind == "tcp" else srv.ws()
        c.register(uniq("%s%d" % (kind.capitalize(), i)), caps=caps)
        c.join(r)
        out.append(c)
    for c in out:
        c.sync()
    return out


def test_room_message_reaches_every_member_tcp_and_ws(srv):
    r = room()
    cs = members(srv, r, [("tcp", ()), ("tcp", ()), ("ws", ()), ("ws", ())])
    for c in cs:
        c.drain()
    texts = {}
    for c in cs:
        texts[c.nick] = "hello from %s \u00e9\u2615 %s" % (c.nick, uniq(""))
        c.send("PRIVMSG %s :%s" % (r, texts[c.nick]))
    for c in cs:
        for other in cs:
            if other is c:
                continue
            ln = c.expect("PRIVMSG", source=other.nick)
            assert ln.params == [r, texts[other.nick]]
            assert re.fullmatch(r"[^!@ ]+![^!@ ]+@[^!@ ]+", ln.source)
            assert ln.tags == {}, "tags sent to a client without caps"
    sync_all(*cs)
    for c in cs:
        c.assert_none("PRIVMSG", sync=False, source=c.nick)


def test_ctcp_action_relayed_intact(srv):
    r = room()
    a, b = members(srv, r, [("ws", ()), ("tcp", ())])
    a.send("PRIVMSG %s :\x01ACTION waves\x01" % r)
    assert b.expect("PRIVMSG").params == [r, "\x01ACTION waves\x01"]


def test_private_messages_tcp_to_ws_and_back(srv):
    t, w = srv.tcp(), srv.ws()
    t.register(uniq("Tcp"))
    w.register(uniq("Ws"))
    allow_private(t, w)
    t.send("PRIVMSG %s :ping \u00fcber ws" % w.nick)
    ln = w.expect("PRIVMSG", source=t.nick)
    assert ln.params == [w.nick, "ping \u00fcber ws"]
    w.send("PRIVMSG %s :pong back" % t.nick)
    ln = t.expect("PRIVMSG", source=w.nick)
    assert ln.params == [t.nick, "pong back"]
    w.send("NOTICE %s :a notice" % t.nick)
    ln = t.expect("NOTICE", source=w.nick)
    assert ln.params == [t.nick, "a notice"]
    # Nick lookup is case-insensitive.
    t.send("PRIVMSG %s :upper" % w.nick.upper())
    assert w.expect("PRIVMSG").params == [w.nick, "upper"]


def test_private_messages_same_transport(srv, transport):
    # The mixed case is above; here both parties share a transport.
    a, b = srv.client(transport), srv.client(transport)
    a.register(uniq("Pma"))
    b.register(uniq("Pmb"))
    allow_private(a, b)
    a.send("PRIVMSG %s :hello \u00e9 %s" % (b.nick, transport))
    ln = b.expect("PRIVMSG", source=a.nick)
    assert ln.params == [b.nick, "hello \u00e9 " + transport]
    b.send("NOTICE %s :reply" % a.nick)
    ln = a.expect("NOTICE", source=b.nick)
    assert ln.params == [a.nick, "reply"]
    sync_all(a, b)
    a.assert_none("PRIVMSG", sync=False)
    b.assert_none("NOTICE", sync=False)


def note(c, *head):
    """The next NOTE from the server whose params start with head."""
    ln = c.expect("NOTE", pred=lambda l: l.params[:len(head)] == list(head))
    assert ln.source == SERVER_NAME, ln.raw
    return ln


@pytest.mark.parametrize("asker,askee", TRANSPORT_PAIRS)
def test_private_message_needs_consent(srv, asker, askee):
    # docs/protocol.md, "Private messages need consent": with the default
    # policy a stranger's messages are held until the recipient accepts.
    salon_only("salon's private-message consent")
    a, b = srv.client(asker), srv.client(askee)
    a.register(uniq("Asker"))
    b.register(uniq("Askee"))
    a.send("PRIVMSG %s :may I?" % b.nick)
    ln = note(b, "PRIVMSG", "PM_REQUEST", a.nick)
    # ... <sender> <age band> <gender> <session age in seconds> :text
    assert len(ln.params) == 7, ln.raw
    assert PROFILE_RE.fullmatch(ln.params[3] + " " + ln.params[4]), ln.raw
    assert re.fullmatch(r"\d+", ln.params[5]), ln.raw
    assert "PMACCEPT " + a.nick in ln.params[6], ln.raw
    note(a, "PRIVMSG", "PM_REQUEST_SENT", b.nick)
    a.send("PRIVMSG %s :still waiting" % b.nick)
    sync_all(a, b)
    b.assert_none("PRIVMSG", sync=False)
    # Accepting delivers what was held, in order; then both ways are open.
    b.send("PMACCEPT " + a.nick)
    got = [b.expect("PRIVMSG", params=[b.nick, text], source=a.nick)
           for text in ("may I?", "still waiting")]
    assert b.history.index(got[0]) < b.history.index(got[1])
    b.send("PRIVMSG %s :yes" % a.nick)
    a.expect("PRIVMSG", params=[a.nick, "yes"], source=b.nick)
    a.send("PRIVMSG %s :thanks" % b.nick)
    b.expect("PRIVMSG", params=[b.nick, "thanks"], source=a.nick)


def test_echo_message_same_msgid(srv):
    salon_only("IRCv3 tags")
    r = room()
    a, b = members(srv, r, [("tcp", ALL_TAGS), ("ws", ["message-tags"])])
    allow_private(b)
    a.send("PRIVMSG %s :echo me" % r)
    mine = a.expect("PRIVMSG", source=a.nick)
    theirs = b.expect("PRIVMSG", source=a.nick)
    assert mine.params == theirs.params == [r, "echo me"]
    assert mine.tags.get("msgid"), mine.raw
    assert mine.tags["msgid"] == theirs.tags.get("msgid")
    # Private messages and notices are echoed too.
    a.send("PRIVMSG %s :private echo" % b.nick)
    mine = a.expect("PRIVMSG", params=[b.nick, "private echo"])
    assert mine.nick == a.nick
    theirs = b.expect("PRIVMSG", params=[b.nick, "private echo"])
    assert mine.tags["msgid"] == theirs.tags["msgid"]
    a.send("NOTICE %s :notice echo" % r)
    a.expect("NOTICE", params=[r, "notice echo"], source=a.nick)
    # Without echo-message the sender gets nothing back.
    b.send("PRIVMSG %s :no echo" % r)
    a.expect("PRIVMSG", params=[r, "no echo"])
    b.assert_none("PRIVMSG", params=[r, "no echo"])


def test_server_time_on_every_message(srv):
    salon_only("IRCv3 tags")
    r = room()
    a = srv.tcp()
    a.register(uniq("Timed"), caps=["server-time"])
    b = srv.ws()
    b.register(uniq("Untimed"))
    a.join(r)
    b.join(r)
    b.send("PRIVMSG %s :what time" % r)
    ln = a.expect("PRIVMSG")
    assert SERVER_TIME_RE.match(ln.tags.get("time", "")), ln.raw
    assert "msgid" not in ln.tags, "msgid without message-tags: " + ln.raw
    a.send("TOPIC %s :topic" % r)
    a.sync()
    first = next(i for i, l in enumerate(a.history) if l.command == "001")
    for ln in a.history[first:]:
        assert SERVER_TIME_RE.match(ln.tags.get("time", "")), ln.raw
    a.send("PRIVMSG %s :back" % r)
    ln = b.expect("PRIVMSG")
    assert ln.tags == {}, ln.raw
    b.sync()
    assert all(not l.tags for l in b.history), [
        l.raw for l in b.history if l.tags]


def test_msgid_unique_with_message_tags(srv):
    salon_only("IRCv3 tags")
    r = room()
    a, b = members(srv, r, [("tcp", ()), ("ws", ["message-tags"])])
    for i in range(5):
        a.send("PRIVMSG %s :m%d" % (r, i))
    ids = []
    for i in range(5):
        ln = b.expect("PRIVMSG", params=[r, "m%d" % i])
        assert ln.tags.get("msgid"), ln.raw
        ids.append(ln.tags["msgid"])
    assert len(set(ids)) == 5, ids


def test_client_only_tags_relayed_to_message_tags_clients(srv):
    salon_only("IRCv3 tags")
    r = room()
    a, b, c = members(srv, r, [("tcp", ["message-tags"]),
                               ("ws", ["message-tags"]), ("tcp", ())])
    a.send("@+example.org/foo=bar\\sbaz;+typing=active;msgid=forged;"
           "time=2001-01-01T00:00:00.000Z PRIVMSG %s :tagged" % r)
    ln = b.expect("PRIVMSG", params=[r, "tagged"])
    assert ln.tags.get("+example.org/foo") == "bar baz", ln.raw
    assert ln.tags.get("+typing") == "active", ln.raw
    # Tags that are not client-only are the server's, never the sender's.
    assert ln.tags.get("msgid") not in (None, "forged"), ln.raw
    assert ln.tags.get("time") != "2001-01-01T00:00:00.000Z", ln.raw
    ln = c.expect("PRIVMSG", params=[r, "tagged"])
    assert ln.tags == {}, ln.raw


def test_tagmsg_only_to_message_tags_clients(srv):
    salon_only("IRCv3 tags")
    r = room()
    a, b, c = members(srv, r, [("ws", ["message-tags"]),
                               ("tcp", ["message-tags"]), ("tcp", ())])
    allow_private(b)
    a.send("@+typing=active TAGMSG " + r)
    ln = b.expect("TAGMSG", source=a.nick)
    assert ln.params == [r]
    assert ln.tags.get("+typing") == "active"
    a.send("@+typing=done TAGMSG " + b.nick)
    ln = b.expect("TAGMSG", source=a.nick)
    assert ln.params == [b.nick] and ln.tags.get("+typing") == "done"
    sync_all(a, b, c)
    c.assert_none("TAGMSG", sync=False)


def test_away_301_305_306_and_away_notify(srv):
    r = room()
    away, sender, notified, plain = srv.tcp(), srv.ws(), srv.tcp(), srv.ws()
    away.register(uniq("Away"))
    sender.register(uniq("Sender"))
    caps = ["away-notify"] if TARGET == "salon" else []
    notified.register(uniq("Notif"), caps=caps)
    plain.register(uniq("Plain"))
    allow_private(away)
    for c in (away, notified, plain):
        c.join(r)
    away.send("AWAY :gone for lunch")
    ln = away.expect("306")
    assert ln.params[0] == away.nick
    sender.send("PRIVMSG %s :are you there?" % away.nick)
    ln = sender.expect("301")
    assert ln.params == [sender.nick, away.nick, "gone for lunch"]
    away.expect("PRIVMSG", params=[away.nick, "are you there?"])
    # NOTICE gets no automatic reply (RFC 2812 3.3.2).
    sender.send("NOTICE %s :notice while away" % away.nick)
    away.expect("NOTICE")
    sender.assert_none("301")
    away.send("AWAY")
    ln = away.expect("305")
    assert ln.params[0] == away.nick
    sender.send("PRIVMSG %s :back?" % away.nick)
    away.expect("PRIVMSG", params=[away.nick, "back?"])
    sender.assert_none("301")
    if caps:
        ln = notified.expect("AWAY", source=away.nick)
        assert ln.params == ["gone for lunch"]
        ln = notified.expect("AWAY", source=away.nick)
        assert ln.params == []
    sync_all(away, plain)
    plain.assert_none("AWAY", sync=False)


def test_notice_never_gets_error_replies(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Noticer"))
    r = room()
    op = srv.client(other_transport(transport))
    op.register(uniq("Nop"))
    op.join(r)
    op.send("MODE %s +n" % r)
    op.sync()
    c.send("NOTICE nosuchnick%s :hello" % uniq("")[-4:])
    c.send("NOTICE #nosuchroom%s :hello" % uniq("")[-4:])
    c.send("NOTICE %s :not a member" % r)
    c.send("NOTICE %s :" % op.nick)
    c.assert_none(lambda l: re.fullmatch(r"\d{3}", l.command) is not None)
    op.assert_none("NOTICE", params=[r, "not a member"])


def test_privmsg_401_no_such_nick(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Err"))
    bad = "nosuch" + uniq("")[-5:]
    c.send("PRIVMSG %s :hello" % bad)
    ln = c.expect("401")
    assert ln.params[:2] == [c.nick, bad]


def test_privmsg_401_no_such_channel(srv, transport):
    # behaviour.md: "401 no such nick/channel" for PRIVMSG targets.
    salon_only("ngircd answers 403")
    c = srv.client(transport)
    c.register(uniq("Err"))
    bad = "#nosuch" + uniq("")[-5:]
    c.send("PRIVMSG %s :hello" % bad)
    ln = c.expect("401")
    assert ln.params[:2] == [c.nick, bad]


def test_privmsg_404_when_not_member_and_n(srv, transport):
    r = room()
    op = srv.client(other_transport(transport))
    outsider = srv.client(transport)
    op.register(uniq("Owner"))
    outsider.register(uniq("Outsider"))
    op.join(r)
    op.send("MODE %s +n" % r)
    op.sync()
    outsider.send("PRIVMSG %s :let me in" % r)
    ln = outsider.expect("404")
    assert ln.params[:2] == [outsider.nick, r]
    sync_all(outsider, op)
    op.assert_none("PRIVMSG", sync=False)


def test_privmsg_411_412(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Empty"))
    c.send("PRIVMSG")
    ln = c.expect("411")
    assert ln.params[0] == c.nick
    other = srv.client(other_transport(transport))
    other.register(uniq("Other"))
    c.send("PRIVMSG " + other.nick)
    ln = c.expect("412")
    assert ln.params[0] == c.nick
    c.send("PRIVMSG %s :" % other.nick)
    c.expect("412")
    other.assert_none("PRIVMSG")
