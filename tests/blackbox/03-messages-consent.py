"""Private messages need consent, and ignoring someone works
(docs/protocol.md): requests held until PMACCEPT, PMDECLINE delivering
nothing, the 'nobody' setting, IGNORE, all kept per session across
reconnects. Over TCP and WebSocket."""
import pytest

import salonlib
from salonlib import uniq

pytestmark = pytest.mark.skipif(salonlib.TARGET != "salon", reason="salon-only consent")

SERVER_CONFIG = {"entry": {"open_registration": "false"}}


def enter(srv, kind, nick, ticket=None, caps=()):
    """A client that entered with a ticket (a persistent session)."""
    ticket = ticket or srv.ticket(nick, age=30)
    c = srv.client(kind, name=nick)
    c.send("PASS " + ticket)
    c.register(nick, caps=caps)
    return c, ticket


def request_line(c, sender):
    return c.expect("NOTE", params=["PRIVMSG", "PM_REQUEST", sender, None, None, None, None])


@pytest.mark.parametrize("kinds", [("tcp", "ws"), ("ws", "tcp")])
def test_request_accept_delivers_held_messages(srv, kinds):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, kinds[0], a)
    cb, _ = enter(srv, kinds[1], b, caps=["server-time"])
    ca.send("PRIVMSG %s :bonjour" % b)
    ca.send("PRIVMSG %s :tu vas bien ?" % b)
    ca.expect("NOTE", params=["PRIVMSG", "PM_REQUEST_SENT", b, None])
    req = request_line(cb, a)
    assert req.params[3] == "25-34" and req.params[4] == "unsaid"
    assert int(req.params[5]) >= 0
    # Held: nothing of the text has reached the recipient.
    cb.assert_none("PRIVMSG")
    cb.send("PMACCEPT " + a)
    m1 = cb.expect("PRIVMSG", params=[b, "bonjour"], source=a)
    m2 = cb.expect("PRIVMSG", params=[b, "tu vas bien ?"], source=a)
    assert m1.tags["time"] <= m2.tags["time"]
    ca.expect("NOTE", params=["PRIVMSG", "PM_ACCEPTED", b, None])
    # Both ways now, directly.
    cb.send("PRIVMSG %s :oui et toi" % a)
    ca.expect("PRIVMSG", params=[a, "oui et toi"], source=b)
    ca.send("PRIVMSG %s :super" % b)
    cb.expect("PRIVMSG", params=[b, "super"], source=a)


def test_decline_delivers_nothing_and_blocks_asking_again(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, "ws", a)
    cb, _ = enter(srv, "tcp", b)
    ca.send("PRIVMSG %s :message secret" % b)
    request_line(cb, a)
    cb.send("PMDECLINE " + a)
    cb.expect("NOTE", params=["PMDECLINE", "DECLINED", a, None])
    ca.expect("NOTE", params=["PRIVMSG", "PM_DECLINED", b, None])
    cb.assert_none("PRIVMSG")
    ca.send("PRIVMSG %s :encore" % b)
    ca.expect("FAIL", params=["PRIVMSG", "PM_DECLINED", b, None])
    cb.assert_none("PRIVMSG")
    cb.assert_none("NOTE")


def test_nobody_setting_refuses_with_reason(srv):
    a, b = uniq("Ask"), uniq("Shy")
    ca, _ = enter(srv, "tcp", a)
    cb, _ = enter(srv, "ws", b)
    cb.send("PMPOLICY nobody")
    cb.expect("NOTE", params=["PMPOLICY", "SET", "nobody", None])
    ca.send("PRIVMSG %s :coucou" % b)
    fail = ca.expect("FAIL", params=["PRIVMSG", "PM_REFUSED", b, None])
    assert "does not accept" in fail.params[-1]
    cb.assert_none("PRIVMSG")
    cb.assert_none("NOTE")
    cb.send("PMPOLICY everyone")
    cb.expect("NOTE", params=["PMPOLICY", "SET", "everyone", None])
    ca.send("PRIVMSG %s :et maintenant" % b)
    cb.expect("PRIVMSG", params=[b, "et maintenant"], source=a)
    cb.send("PMPOLICY bogus")
    cb.expect("FAIL", params=["PMPOLICY", "INVALID_PARAMS", "bogus", None])


def test_pending_request_holds_ten_then_refuses(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, "tcp", a)
    cb, _ = enter(srv, "tcp", b)
    for i in range(10):
        ca.send("PRIVMSG %s :m%d" % (b, i))
    ca.send("PRIVMSG %s :one too many" % b)
    ca.expect("FAIL", params=["PRIVMSG", "PM_PENDING", b, None])
    # Exactly one request, however many messages wait.
    request_line(cb, a)
    cb.assert_none("NOTE")
    cb.send("PMACCEPT " + a)
    for i in range(10):
        cb.expect("PRIVMSG", params=[b, "m%d" % i])
    cb.assert_none("PRIVMSG")


def test_tagmsg_never_opens_a_request(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, "tcp", a, caps=["message-tags"])
    cb, _ = enter(srv, "tcp", b, caps=["message-tags"])
    ca.send("@+typing=active TAGMSG " + b)
    ca.assert_none("NOTE")
    cb.assert_none("NOTE")
    cb.assert_none("TAGMSG")


def test_consent_survives_reconnect_with_the_same_ticket(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, ta = enter(srv, "tcp", a)
    cb, tb = enter(srv, "ws", b)
    ca.send("PRIVMSG %s :salut" % b)
    request_line(cb, a)
    cb.send("PMACCEPT " + a)
    cb.expect("PRIVMSG", params=[b, "salut"])
    cb.close()
    cb, _ = enter(srv, "ws", b, ticket=tb)
    ca.send("PRIVMSG %s :toujours la ?" % b)
    cb.expect("PRIVMSG", params=[b, "toujours la ?"], source=a)
    cb.assert_none("NOTE")


@pytest.mark.parametrize("kind", salonlib.TRANSPORTS)
def test_ignore_drops_room_and_private_messages_silently(srv, kind):
    a, b = uniq("Pest"), uniq("Calm")
    ca, _ = enter(srv, "tcp", a)
    cb, tb = enter(srv, kind, b)
    room = "#" + uniq("ign")
    ca.join(room)
    cb.join(room)
    ca.expect("JOIN", source=b)
    cb.send("PMPOLICY everyone")
    cb.expect("NOTE")
    cb.send("IGNORE " + a)
    cb.expect("NOTE", params=["IGNORE", "ADDED", a, None])
    ca.send("PRIVMSG %s :dans le salon" % room)
    ca.send("PRIVMSG %s :en prive" % b)
    ca.assert_none("FAIL")          # nothing tells the ignored person
    cb.assert_none("PRIVMSG")
    cb.send("IGNORE")
    lst = cb.expect("NOTE", params=["IGNORE", "LIST", None])
    assert a in lst.params[-1].split()
    # Kept by the session: a reconnect with the same ticket still ignores.
    cb.close()
    cb, _ = enter(srv, kind, b, ticket=tb)
    cb.join(room)
    ca.send("PRIVMSG %s :toujours la" % room)
    cb.assert_none("PRIVMSG")
    cb.send("UNIGNORE " + a)
    cb.expect("NOTE", params=["IGNORE", "REMOVED", a, None])
    ca.send("PRIVMSG %s :de retour" % room)
    cb.expect("PRIVMSG", params=[room, "de retour"], source=a)


def test_ignoring_drops_a_waiting_request(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, "tcp", a)
    cb, _ = enter(srv, "tcp", b)
    ca.send("PRIVMSG %s :hello" % b)
    request_line(cb, a)
    cb.send("IGNORE " + a)
    cb.expect("NOTE", params=["IGNORE", "ADDED", a, None])
    cb.send("PMACCEPT " + a)
    cb.expect("NOTE", params=["PMACCEPT", "ACCEPTED", a, None])
    cb.assert_none("PRIVMSG")


def test_consent_commands_errors(srv):
    b = uniq("Rcv")
    cb, _ = enter(srv, "tcp", b)
    cb.send("PMACCEPT nobodyhere")
    cb.expect("401")
    cb.send("IGNORE " + b)
    cb.expect("FAIL", params=[None, "INVALID_TARGET", b, None])
    cb.send("PMACCEPT")
    cb.expect("461")


def test_held_message_is_echoed_to_its_sender_with_the_msgid_it_keeps(srv):
    a, b = uniq("Ask"), uniq("Rcv")
    ca, _ = enter(srv, "ws", a, caps=["echo-message", "message-tags"])
    cb, _ = enter(srv, "tcp", b, caps=["message-tags"])
    ca.send("PRIVMSG %s :premier mot" % b)
    echo = ca.expect("PRIVMSG", params=[b, "premier mot"], source=a)
    request_line(cb, a)
    cb.assert_none("PRIVMSG")
    cb.send("PMACCEPT " + a)
    got = cb.expect("PRIVMSG", params=[b, "premier mot"], source=a)
    assert got.tags["msgid"] == echo.tags["msgid"]
    # No second echo for the sender on delivery.
    ca.assert_none("PRIVMSG")
