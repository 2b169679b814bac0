"""Raids and spam (docs/rules.md, [protection]): per-session message rate,
slow mode (+W), duplicate texts, links and mentions from new sessions, the
first-contact budget, connection throttling of unknown addresses, and the
lockdown of the entry API (proof of work, closed) with its audit trail.

The module's server runs the shipped [protection] defaults
(salonlib.PROTECTION_DEFAULTS), not the lifted limits of the other modules;
each test uses fresh sessions so that no test spends another's budget."""
import socket
import time

import pytest

import salonlib
from salonlib import (PROTECTION_DEFAULTS, T, http_json,
                      pow_has_bits, pow_solve, staff_login, sync_all,
                      uniq_alpha)

pytestmark = pytest.mark.skipif(salonlib.TARGET != "salon",
                                reason="salon-only protection")

POW_BITS = 8
DUPLICATE_SESSIONS = 5     # shipped default (docs/rules.md)
CONFIG = {"protection": dict(PROTECTION_DEFAULTS, pow_bits=str(POW_BITS),
                             duplicate_sessions=str(DUPLICATE_SESSIONS))}
MESSAGES_PER_MINUTE = int(PROTECTION_DEFAULTS["messages_per_minute"])
DUPLICATE_TARGETS = int(PROTECTION_DEFAULTS["duplicate_targets"])
FIRST_CONTACTS_NEW = int(PROTECTION_DEFAULTS["first_contacts_new"])
NEW_LINKS_MAX = int(PROTECTION_DEFAULTS["new_links_max"])
NEW_MENTIONS_MAX = int(PROTECTION_DEFAULTS["new_mentions_max"])

raids_server = salonlib.staff_server_fixture(CONFIG)


@pytest.fixture
def srv(raids_server):
    """The module's server (with staff account mod1); this test's clients
    are closed afterwards, and a server that died fails the test."""
    s = raids_server
    yield s
    s.close_clients()
    if not s.alive():
        pytest.fail("server died during the test:\n" + s.stderr())


def room_name():
    return "#" + uniq_alpha("raid")


def entered(srv, prefix, kind="tcp"):
    """A registered client with a session ticket, as people enter (the
    "new session" limits count from the session's creation)."""
    nick = uniq_alpha(prefix)
    c = srv.client(kind, name=nick)
    c.send("PASS " + srv.ticket(nick))
    c.register(nick)
    return c


def people(srv, n, prefix, kinds=("tcp", "ws")):
    """n entered clients, alternating transports."""
    return [entered(srv, prefix, kinds[i % len(kinds)]) for i in range(n)]


def fail_line(c, command, code, target):
    """Wait for FAIL <command> <code> <target> :<reason>; the reason must
    say something."""
    ln = c.expect("FAIL", params=[command, code, target, None])
    assert ln.params[3].strip(), ln.raw
    return ln


def assert_no_fail(c):
    c.assert_none("FAIL")


# ------------------------------------------------------------ message rate

def test_more_than_messages_per_minute_is_refused(srv):
    room = room_name()
    a, w, b = people(srv, 3, "Rate")
    for c in (a, w, b):
        c.join(room)
    sync_all(a, w, b)
    a.send_many(["PRIVMSG %s :rate %02d" % (room, i)
                 for i in range(MESSAGES_PER_MINUTE)])
    for i in range(MESSAGES_PER_MINUTE):
        w.expect("PRIVMSG", params=[room, "rate %02d" % i], source=a.nick)
    assert_no_fail(a)
    a.send("PRIVMSG %s :rate one too many" % room)
    fail_line(a, "PRIVMSG", "RATE_LIMIT", room)
    # The refused message never reaches the room: a later message from
    # someone else arrives, the refused one did not come before it.
    b.send("PRIVMSG %s :rate sentinel" % room)
    w.expect("PRIVMSG", params=[room, "rate sentinel"], source=b.nick)
    assert not [ln for ln in w.history if ln.command == "PRIVMSG"
                and ln.params[-1] == "rate one too many"]
    # The limit is per session: the others still speak.
    w.send("PRIVMSG %s :rate other session" % room)
    b.expect("PRIVMSG", params=[room, "rate other session"], source=w.nick)


# ------------------------------------------------------------ slow mode

def chan_modes(c, room):
    c.send("MODE " + room)
    ln = c.expect("324", pred=lambda l: l.params[1] == room)
    return ln.params[2], ln.params[3:]


def test_slow_mode_set_by_room_op_refuses_a_second_message(srv):
    room = room_name()
    op, member, voiced = people(srv, 3, "Slow")
    for c in (op, member, voiced):
        c.join(room)
    sync_all(op, member, voiced)
    # Only a room operator may set it.
    member.send("MODE %s +W 5" % room)
    ln = member.expect("482")
    assert ln.params[1] == room
    op.send("MODE %s +W 5" % room)
    for c in (op, member, voiced):
        c.expect("MODE", params=[room, "+W", "5"], source=op.nick)
    modes, args = chan_modes(member, room)
    assert "W" in modes, (modes, args)
    assert "5" in args, (modes, args)
    op.send("MODE %s +v %s" % (room, voiced.nick))
    member.expect("MODE", params=[room, "+v", voiced.nick])
    member.send("PRIVMSG %s :slow first" % room)
    op.expect("PRIVMSG", params=[room, "slow first"], source=member.nick)
    member.send("PRIVMSG %s :slow second" % room)
    fail_line(member, "PRIVMSG", "SLOW_MODE", room)
    # Operators and voiced members are exempt: two messages each, at once.
    op.send_many(["PRIVMSG %s :op one" % room, "PRIVMSG %s :op two" % room])
    voiced.send_many(["PRIVMSG %s :voice one" % room,
                      "PRIVMSG %s :voice two" % room])
    for text, who in (("op one", op), ("op two", op), ("voice one", voiced),
                      ("voice two", voiced)):
        member.expect("PRIVMSG", params=[room, text], source=who.nick)
    assert_no_fail(op)
    assert_no_fail(voiced)
    assert not [ln for ln in op.history if ln.command == "PRIVMSG"
                and ln.params[-1] == "slow second"]


def test_slow_mode_lets_the_next_message_through_after_the_interval(srv):
    room = room_name()
    op, member = people(srv, 2, "Slw")
    op.join(room)
    member.join(room)
    op.send("MODE %s +W 1" % room)
    member.expect("MODE", params=[room, "+W", "1"])
    member.send("PRIVMSG %s :tick" % room)
    first = op.expect("PRIVMSG", params=[room, "tick"])
    member.send("PRIVMSG %s :too soon" % room)
    fail_line(member, "PRIVMSG", "SLOW_MODE", room)
    # Try again until accepted: it must be, about a second after the first.
    deadline = time.monotonic() + 3 * T
    while True:
        member.send("PRIVMSG %s :tock" % room)
        member.sync()
        if not [ln for ln in member.pending if ln.command == "FAIL"]:
            break
        member.pending = []
        assert time.monotonic() < deadline, "slow mode never let tock through"
        time.sleep(0.1)      # the interval is the point: poll it
    got = op.expect("PRIVMSG", params=[room, "tock"])
    assert got.time - first.time >= 0.9, got.time - first.time
    op.send("MODE %s -W" % room)
    member.expect("MODE", params=[room, "-W"])
    modes, _ = chan_modes(member, room)
    assert "W" not in modes
    member.send_many(["PRIVMSG %s :free 1" % room,
                      "PRIVMSG %s :free 2" % room])
    op.expect("PRIVMSG", params=[room, "free 1"])
    op.expect("PRIVMSG", params=[room, "free 2"])


# ------------------------------------------------------------ duplicates

def test_same_long_text_to_many_targets_is_refused(srv):
    a, w = people(srv, 2, "Dup")
    rooms = [room_name() for _ in range(DUPLICATE_TARGETS)]
    for r in rooms:
        a.join(r)
        w.join(r)
    sync_all(a, w)
    text = "Venez tous voir mon nouveau salon " + uniq_alpha("x")
    assert len(text) >= 20
    for r in rooms[:-1]:
        a.send("PRIVMSG %s :%s" % (r, text))
        w.expect("PRIVMSG", params=[r, text], source=a.nick)
    assert_no_fail(a)
    a.send("PRIVMSG %s :%s" % (rooms[-1], text))
    fail_line(a, "PRIVMSG", "DUPLICATE", rooms[-1])
    a.send("PRIVMSG %s :after duplicate" % rooms[-1])
    w.expect("PRIVMSG", params=[rooms[-1], "after duplicate"])
    assert [ln.params[0] for ln in w.history
            if ln.command == "PRIVMSG" and ln.params[-1] == text] == rooms[:-1]
    # A short text is no spam signal however often it is said.
    for r in rooms:
        a.send("PRIVMSG %s :ok" % r)
        w.expect("PRIVMSG", params=[r, "ok"])
    assert_no_fail(a)


def test_same_long_text_from_five_sessions_is_refused(srv):
    room = room_name()
    w = entered(srv, "Watch")
    w.join(room)
    senders = people(srv, DUPLICATE_SESSIONS, "Bot")
    for c in senders:
        c.join(room)
    text = "Rejoignez notre salon de discussion ce soir " + uniq_alpha("y")
    outcomes = []
    for c in senders:
        c.send("PRIVMSG %s :%s" % (room, text))
        c.sync()
        fails = [ln for ln in c.pending if ln.command == "FAIL"]
        c.pending = []
        outcomes.append(fails[0].params[1] if fails else "sent")
    # Four sessions may say it; the fifth is a raid pasting one line.
    assert outcomes == ["sent"] * (DUPLICATE_SESSIONS - 1) + ["DUPLICATE"], \
        outcomes
    w.sync()
    delivered = [ln for ln in w.history
                 if ln.command == "PRIVMSG" and ln.params[-1] == text]
    assert len(delivered) == outcomes.count("sent"), (outcomes, delivered)


# ------------------------------------------------------------ links, mentions

def test_new_session_may_post_one_link_not_two(srv):
    room = room_name()
    a, w = people(srv, 2, "Lnk")
    a.join(room)
    w.join(room)
    one = "regarde https://example.org/a"
    two = "regarde https://example.org/a et https://example.net/b"
    assert NEW_LINKS_MAX == 1
    a.send("PRIVMSG %s :%s" % (room, one))
    w.expect("PRIVMSG", params=[room, one], source=a.nick)
    a.send("PRIVMSG %s :%s" % (room, two))
    fail_line(a, "PRIVMSG", "TOO_MANY_LINKS", room)
    a.send("PRIVMSG %s :after links" % room)
    w.expect("PRIVMSG", params=[room, "after links"])
    assert not [ln for ln in w.history if ln.params[-1:] == [two]]


def test_open_registration_session_is_new_too(srv):
    """Without a ticket the session begins at registration: the new-session
    limits apply to it as to an entered one."""
    room = room_name()
    nick = uniq_alpha("Opn")
    a = srv.client("tcp", name=nick)
    a.register(nick)
    w = entered(srv, "OpnW")
    a.join(room)
    w.join(room)
    two = "vois https://example.org/a et https://example.net/b"
    a.send("PRIVMSG %s :%s" % (room, two))
    fail_line(a, "PRIVMSG", "TOO_MANY_LINKS", room)
    a.send("PRIVMSG %s :after links" % room)
    w.expect("PRIVMSG", params=[room, "after links"])
    assert not [ln for ln in w.history if ln.params[-1:] == [two]]


def test_new_session_may_name_three_members_not_four(srv):
    room = room_name()
    a, w = people(srv, 2, "Men")
    named = people(srv, NEW_MENTIONS_MAX + 1, "Tag")
    for c in [a, w] + named:
        c.join(room)
    sync_all(a, w, *named)
    ok = "salut " + " ".join(c.nick for c in named[:NEW_MENTIONS_MAX])
    too_many = "salut " + " ".join(c.nick for c in named)
    a.send("PRIVMSG %s :%s" % (room, ok))
    w.expect("PRIVMSG", params=[room, ok], source=a.nick)
    a.send("PRIVMSG %s :%s" % (room, too_many))
    fail_line(a, "PRIVMSG", "TOO_MANY_MENTIONS", room)
    a.send("PRIVMSG %s :after mentions" % room)
    w.expect("PRIVMSG", params=[room, "after mentions"])
    assert not [ln for ln in w.history if ln.params[-1:] == [too_many]]


# ------------------------------------------------------------ first contact

def test_new_session_opens_three_conversations_not_four(srv):
    a = entered(srv, "New")
    others = people(srv, FIRST_CONTACTS_NEW + 1, "Far")
    for c in others[:FIRST_CONTACTS_NEW]:
        a.send("PRIVMSG %s :bonjour" % c.nick)
        a.expect("NOTE", params=["PRIVMSG", "PM_REQUEST_SENT", c.nick, None])
        c.expect("NOTE", params=["PRIVMSG", "PM_REQUEST", a.nick, None, None,
                                 None, None])
    last = others[-1]
    a.send("PRIVMSG %s :bonjour" % last.nick)
    fail_line(a, "PRIVMSG", "FIRST_CONTACT_LIMIT", last.nick)
    last.assert_none("NOTE")
    last.assert_none("PRIVMSG")
    # Conversations already open are not limited: the first one goes on.
    first = others[0]
    first.send("PMACCEPT " + a.nick)
    first.expect("PRIVMSG", params=[first.nick, "bonjour"], source=a.nick)
    a.send("PRIVMSG %s :encore moi" % first.nick)
    first.expect("PRIVMSG", params=[first.nick, "encore moi"], source=a.nick)


# ------------------------------------------------------------ connections

class TcpFrom(salonlib.TcpClient):
    """A TCP client connecting from a chosen loopback address (Linux routes
    all of 127.0.0.0/8 to lo), not registered."""

    def __init__(self, server, source):
        salonlib.Client.__init__(self, server, "tcp-" + source)
        self.sock = socket.create_connection(
            ("127.0.0.1", server.irc_port), timeout=T,
            source_address=(source, 0))
        self.sock.setblocking(False)
        self.buf = b""
        server.clients.append(self)


def test_unknown_address_connection_rate_is_throttled(server_factory,
                                                     tmp_path):
    per_minute = 5
    # No rule packs: this server is about connections only (and the packs
    # take seconds to compile at start-up).
    s = server_factory({"protection": dict(
        PROTECTION_DEFAULTS, connect_per_minute=str(per_minute),
        rules_dir=str(tmp_path))})
    source = "127.0.0.66"
    allowed = [TcpFrom(s, source) for _ in range(per_minute)]
    for c in allowed:
        # Still open and served (PING is answered before registration).
        c.sync()
    extra = TcpFrom(s, source)
    lines = extra.expect_closed()
    errors = [ln for ln in lines if ln.command == "ERROR"]
    assert errors, "refused connection closed without an ERROR: %r" % lines
    assert errors[0].params[-1].startswith("Closing Link: %s (" % source), \
        errors[0].raw
    # Another address is not affected, nor are the connections let in.
    ok = s.tcp(uniq_alpha("Oth"))
    ok.sync()
    for c in allowed:
        c.sync()


# ------------------------------------------------------------ lockdown

def entry_body(nick, **extra):
    body = {"nick": nick, "age": 30, "gender": "unsaid", "region": "75",
            "accept_rules": True}
    body.update(extra)
    return body


def set_lockdown(srv, staff, level, reason):
    status, _, doc = http_json(srv, "POST", "/api/v1/mod/lockdown",
                               {"level": level, "reason": reason},
                               headers=staff)
    assert status == 200, (status, doc)
    assert doc["level"] == level, doc
    status, _, got = http_json(srv, "GET", "/api/v1/mod/lockdown",
                               headers=staff)
    assert status == 200 and got == doc, (status, got, doc)
    return doc


def test_lockdown_challenge_closed_and_off_are_audited(srv):
    staff = staff_login(srv)
    # Someone already in is not affected by any level.
    inside = entered(srv, "Ins")
    reasons = {lvl: "raid drill %s %s" % (lvl, uniq_alpha(""))
               for lvl in ("challenge", "closed", "off")}
    try:
        doc = set_lockdown(srv, staff, "challenge", reasons["challenge"])
        assert doc["bits"] == POW_BITS, doc
        status, _, err = http_json(srv, "POST", "/api/v1/session",
                                   entry_body(uniq_alpha("Pow")))
        assert status == 403, (status, err)
        e = err["error"]
        assert e["code"] == "pow_required" and e["field"] is None, err
        assert e["message"] and e["bits"] == POW_BITS, err
        challenge = e["challenge"]
        assert isinstance(challenge, str) and challenge, err
        # A wrong nonce is refused with a fresh challenge.
        bad = next(str(n) for n in range(1000)
                   if not pow_has_bits(challenge, n, POW_BITS))
        status, _, err = http_json(srv, "POST", "/api/v1/session",
                                   entry_body(uniq_alpha("Pow"),
                                              pow="%s:%s" % (challenge, bad)))
        assert status == 403 and err["error"]["code"] == "pow_required", err
        proof = "%s:%s" % (challenge, pow_solve(challenge, POW_BITS))
        nick = uniq_alpha("Pow")
        status, _, ok = http_json(srv, "POST", "/api/v1/session",
                                  entry_body(nick, pow=proof))
        assert status in (200, 201), (status, ok)
        assert ok["profile"]["nick"] == nick and ok["ticket"], ok
        # The ticket works on IRC.
        c = srv.tcp(name="pow-entered")
        c.send("PASS " + ok["ticket"])
        c.register(nick)
        # The same proof again: single-use.
        status, _, err = http_json(srv, "POST", "/api/v1/session",
                                   entry_body(uniq_alpha("Pow"), pow=proof))
        assert status == 403 and err["error"]["code"] == "pow_required", \
            (status, err)

        set_lockdown(srv, staff, "closed", reasons["closed"])
        status, _, err = http_json(srv, "POST", "/api/v1/session",
                                   entry_body(uniq_alpha("Cls")))
        assert status == 503, (status, err)
        assert err["error"]["code"] == "closed" and err["error"]["message"], err
        # Not even with a valid proof of work.
        status, _, err = http_json(srv, "POST", "/api/v1/session",
                                   entry_body(uniq_alpha("Cls"), pow=proof))
        assert status == 503, (status, err)
    finally:
        set_lockdown(srv, staff, "off", reasons["off"])
    status, _, ok = http_json(srv, "POST", "/api/v1/session",
                              entry_body(uniq_alpha("Off")))
    assert status in (200, 201), (status, ok)
    inside.sync()
    status, _, audit = http_json(srv, "GET", "/api/v1/mod/audit",
                                 headers=staff)
    assert status == 200
    entries = [e for e in audit["entries"] if "lockdown" in e["action"]]
    text = [" ".join(str(e.get(k, "")) for k in ("action", "target", "detail"))
            for e in entries]
    for lvl, reason in reasons.items():
        hits = [t for t in text if reason in t]
        assert len(hits) == 1, (lvl, reason, text)
        assert lvl in hits[0], (lvl, hits)
    assert all(e["actor"] == "staff:mod1" for e in entries
               if any(r in str(e) for r in reasons.values())), entries


def test_lockdown_api_needs_staff_and_a_known_level(srv):
    staff = staff_login(srv)
    status, _, doc = http_json(srv, "POST", "/api/v1/mod/lockdown",
                               {"level": "challenge", "reason": "x"})
    assert status == 401, (status, doc)
    status, _, doc = http_json(srv, "POST", "/api/v1/mod/lockdown",
                               {"level": "panic", "reason": "x"},
                               headers=staff)
    assert status == 400, (status, doc)
    status, _, doc = http_json(srv, "GET", "/api/v1/mod/lockdown",
                               headers=staff)
    assert status == 200 and doc["level"] == "off", doc
