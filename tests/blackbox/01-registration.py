"""01 registration: CAP, welcome burst, ISUPPORT, MOTD, nick rules, tickets,
timeouts, PING/PONG. Each runs over TCP and WebSocket (the `transport`
fixture), and the two-party tests mix the transports."""
import re
import time

import pytest

from salonlib import (T, SERVER_NAME, TRANSPORT_PAIRS, other_transport,
                      salon_only, server_fixture, uniq)

WANTED_CAPS = {"message-tags", "server-time", "echo-message", "multi-prefix",
               "away-notify", "batch", "userhost-in-names",
               "draft/chathistory"}
CLOSING_RE = re.compile(r"^Closing Link: .*\(.+\)$")


def cap_ls(c):
    c.send("CAP LS 302")
    caps, lines = {}, []
    while True:
        ln = c.expect("CAP")
        lines.append(ln)
        for tok in ln.params[-1].split():
            k, _, v = tok.partition("=")
            caps[k] = v
        if not (len(ln.params) >= 4 and ln.params[2] == "*"):
            return caps, lines


def test_cap_ls_302_offers_the_documented_caps(srv, transport):
    salon_only("ngircd offers few caps")
    c = srv.client(transport)
    caps, lines = cap_ls(c)
    for ln in lines:
        assert ln.source == SERVER_NAME
        assert ln.params[0] == "*"
        assert ln.params[1] == "LS"
    missing = WANTED_CAPS - set(caps)
    assert not missing, "caps not offered: %r (got %r)" % (missing, caps)


def test_cap_req_ack_nak_and_list(srv, transport):
    salon_only("ngircd offers few caps")
    c = srv.client(transport)
    cap_ls(c)
    c.send("CAP REQ :message-tags server-time")
    ln = c.expect("CAP")
    assert ln.params[:2] == ["*", "ACK"]
    assert sorted(ln.params[2].split()) == ["message-tags", "server-time"]
    # Unknown cap: the whole request is refused (IRCv3 capability
    # negotiation: "the server MUST NOT change any capability of the
    # request" when one of them can't be granted).
    c.send("CAP REQ :server-time no-such-cap/xyz")
    ln = c.expect("CAP")
    assert ln.params[:2] == ["*", "NAK"]
    assert sorted(ln.params[2].split()) == ["no-such-cap/xyz", "server-time"]
    c.send("CAP LIST")
    ln = c.expect("CAP")
    assert ln.params[:2] == ["*", "LIST"]
    assert sorted(ln.params[-1].split()) == ["message-tags", "server-time"]
    c.send("CAP END")
    c.send("NICK " + uniq("capper"))
    c.send("USER u 0 * :r")
    c.expect("001")
    c.expect("376")


def test_welcome_burst_order_and_contents(srv, transport):
    nick = uniq("Welc")
    c = srv.client(transport)
    welcome = c.register(nick)
    cmds = [l.command for l in welcome]
    assert cmds[:4] == ["001", "002", "003", "004"], cmds
    i = 4
    while cmds[i] == "005":
        i += 1
    assert i > 4, "no 005"
    # Other numerics (LUSERS) may sit between ISUPPORT and the MOTD.
    m = cmds.index("375")
    assert m >= i and cmds[-1] == "376", cmds
    assert set(cmds[m + 1:-1]) == {"372"}, cmds
    for ln in welcome:
        assert ln.source == SERVER_NAME, ln.raw
        assert ln.params[0] == nick, ln.raw
    assert welcome[0].params[1].startswith("Welcome"), welcome[0].raw
    assert nick in welcome[0].params[1]
    four = welcome[3]
    assert four.params[1] == SERVER_NAME, four.raw
    assert len(four.params) >= 5, four.raw
    for ln in welcome[4:i]:
        assert ln.params[-1].startswith("are supported"), ln.raw


def isupport(welcome):
    toks = {}
    for ln in welcome:
        if ln.command == "005":
            for t in ln.params[1:-1]:
                k, eq, v = t.partition("=")
                toks[k] = v if eq else True
    return toks


def test_isupport_tokens(srv, transport):
    salon_only("salon's ISUPPORT")
    c = srv.client(transport)
    toks = isupport(c.register(uniq("Isup")))
    assert toks.get("CASEMAPPING") == "ascii"
    assert toks.get("CHANTYPES") == "#"
    assert toks.get("PREFIX") == "(ov)@+"
    assert toks.get("CHANMODES") == "b,k,lW,imnt"  # +W: slow mode
    assert toks.get("NETWORK") == "salon"
    assert toks.get("UTF8ONLY") is True
    assert re.fullmatch(r"\d+", str(toks.get("CHATHISTORY"))), toks
    assert int(toks["CHATHISTORY"]) > 0
    assert toks.get("MSGREFTYPES") == "msgid,timestamp"


def test_registration_over_websocket(srv):
    nick = uniq("Wsreg")
    c = srv.ws()
    welcome = c.register(nick, caps=["message-tags"])
    assert [l.command for l in welcome[:4]] == ["001", "002", "003", "004"]
    assert welcome[0].params[0] == nick


def test_motd(srv, transport):
    c = srv.client(transport)
    welcome = c.register(uniq("Motd"))
    start = [l for l in welcome if l.command == "375"]
    body = [l for l in welcome if l.command == "372"]
    assert len(start) == 1 and body
    assert SERVER_NAME in start[0].params[1]
    # The MOTD command replays it (RFC 2812 3.4.1; behaviour.md is silent).
    c.send("MOTD")
    c.expect("375")
    c.expect("372")
    c.expect("376")


def test_commands_before_registration_get_451(srv, transport):
    c = srv.client(transport)
    c.send("JOIN #accueil")
    ln = c.expect("451")
    assert ln.source == SERVER_NAME
    assert ln.params[0] == "*"
    c.send("PRIVMSG someone :hi")
    c.expect("451", params=["*", None])
    # PING is allowed before registration.
    c.send("PING early")
    ln = c.expect("PONG")
    assert ln.params[-1] == "early"
    c.register(uniq("Late"), cap_ls=False)


def test_unknown_command_421(srv, transport):
    c = srv.client(transport)
    nick = uniq("Unk")
    c.register(nick)
    c.send("FROBNICATE a b")
    ln = c.expect("421")
    assert ln.params[:2] == [nick, "FROBNICATE"]
    c.sync()


def test_missing_params_461(srv, transport):
    c = srv.client(transport)
    c.send("USER onlyone")
    ln = c.expect("461")
    assert ln.params[:2] == ["*", "USER"]
    nick = uniq("Np")
    c.register(nick, cap_ls=False)
    for cmd in ("JOIN", "PART", "TOPIC", "KICK #x", "MODE", "INVITE x"):
        c.send(cmd)
        ln = c.expect("461")
        assert ln.params[:2] == [nick, cmd.split()[0]], ln.raw


def test_nick_missing_431(srv, transport):
    c = srv.client(transport)
    c.send("NICK")
    ln = c.expect("431")
    assert ln.params[0] == "*"
    nick = uniq("Nn")
    c.register(nick, cap_ls=False)
    c.send("NICK :")
    c.expect("431", params=[nick, None])


@pytest.mark.parametrize("bad", [
    "1digit", "-dash", "sp ace", "exclam!", "at@sign", "com,ma",
    "star*", "dollar$", "x" * 31, "h\u00e9llo", "#chan"])
def test_erroneous_nick_432(srv, transport, bad):
    c = srv.client(transport)
    c.send("NICK " + (bad if " " not in bad else ":" + bad))
    ln = c.expect("432")
    assert ln.params[0] == "*"
    if " " not in bad:
        assert ln.params[1] == bad, ln.raw


def test_valid_nick_characters_and_length(srv, transport):
    nick30 = ("N" + uniq("x") + "z" * 30)[:30]
    c = srv.client(transport)
    c.register(nick30, cap_ls=False)
    assert c.nick == nick30
    special = "a[]\\`_^{|}-" + uniq("")[-4:]
    d = srv.client(transport)
    d.register(special, cap_ls=False)
    assert d.nick == special


@pytest.mark.parametrize("holder,newcomer", TRANSPORT_PAIRS)
def test_nick_in_use_433_is_case_insensitive(srv, holder, newcomer):
    # The nick space is shared: a nick held over one transport is taken
    # over the other.
    base = uniq("Alice")
    a = srv.client(holder)
    a.register(base)
    b = srv.client(newcomer)
    b.send("NICK " + base.upper())
    ln = b.expect("433")
    assert ln.params[:2] == ["*", base.upper()]
    b.send("NICK " + base.lower())
    b.expect("433", params=["*", base.lower(), None])
    # After registration too.
    other = uniq("Bob")
    b.register(other, cap_ls=False)
    b.send("NICK " + base.swapcase())
    b.expect("433", params=[other, base.swapcase(), None])


def test_casemapping_ascii_brackets_are_distinct(srv):
    salon_only("ngircd uses rfc1459 casemapping")
    tag = uniq("")
    a = srv.tcp()
    a.register("br[ack]" + tag)
    b = srv.tcp()
    b.register("br{ack}" + tag)   # rfc1459 would call this the same nick
    assert b.nick == "br{ack}" + tag


def test_nick_change_seen_by_self_and_room_peers(srv, transport):
    room = "#" + uniq("nickroom")
    peer = other_transport(transport)
    a, b = srv.client(transport), srv.client(peer)
    outsider = srv.client(transport)
    old, new = uniq("Old"), uniq("New")
    a.register(old)
    b.register(uniq("Peer"))
    outsider.register(uniq("Out"))
    a.join(room)
    b.join(room)
    a.send("NICK " + new)
    ln = a.expect("NICK")
    assert ln.nick == old and ln.params == [new]
    ln = b.expect("NICK")
    assert ln.nick == old and ln.params == [new]
    outsider.assert_none("NICK")
    # The old nick is free again, the new one is taken (seen from the
    # other transport).
    c = srv.client(peer)
    c.send("NICK " + new)
    c.expect("433")
    c.register(old, cap_ls=False)


def test_ping_pong(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Pinger"))
    c.send("PING :hello there")
    ln = c.expect("PONG")
    assert ln.source == SERVER_NAME
    assert ln.params == [SERVER_NAME, "hello there"]
    # Commands are case-insensitive (RFC 2812 2.3).
    c.send("ping lower")
    assert c.expect("PONG").params == [SERVER_NAME, "lower"]


def test_quit_closes_and_peers_see_it(srv, transport):
    room = "#" + uniq("quit")
    a, b = srv.client(transport), srv.client(other_transport(transport))
    an = uniq("Quitter")
    a.register(an)
    b.register(uniq("Stayer"))
    a.join(room)
    b.join(room)
    a.send("QUIT :see you")
    ln = a.expect("ERROR")
    assert CLOSING_RE.match(ln.params[0]), ln.raw
    a.expect_closed()
    ln = b.expect("QUIT")
    assert ln.nick == an
    assert ln.params == ["Quit: see you"]


# ---------------------------------------------------------------- tickets

closed_server = server_fixture({"entry": {"open_registration": "false"}})


def expect_464_and_close(c, nick):
    ln = c.expect("464")
    assert ln.source == SERVER_NAME
    assert ln.params[0] in ("*", nick), ln.raw
    ln = c.expect("ERROR")
    assert CLOSING_RE.match(ln.params[0]), ln.raw
    c.expect_closed()


def test_ticket_valid_registers(closed_server):
    salon_only("tickets")
    nick = uniq("Tick")
    tk = closed_server.ticket(nick, age=30)
    c = closed_server.tcp()
    c.register(nick, password=tk)
    assert c.nick == nick
    c.sync()


def test_ticket_valid_registers_over_websocket(closed_server):
    salon_only("tickets")
    nick = uniq("Wtick")
    tk = closed_server.ticket(nick, age=41, gender="woman", region="75")
    c = closed_server.ws()
    c.register(nick, password=tk, caps=["server-time"])
    assert c.nick == nick


def test_ticket_missing_464(closed_server, transport):
    salon_only("tickets")
    c = closed_server.client(transport)
    nick = uniq("Nopass")
    c.send("NICK " + nick)
    c.send("USER u 0 * :r")
    expect_464_and_close(c, nick)


def forge(tk):
    # Flip one character in the middle (the signature or the payload).
    i = len(tk) // 2
    ch = "A" if tk[i] != "A" else "B"
    return tk[:i] + ch + tk[i + 1:]


@pytest.mark.parametrize("kind", ["forged", "garbled", "truncated"])
def test_ticket_invalid_464(closed_server, transport, kind):
    salon_only("tickets")
    nick = uniq("Bad")
    tk = closed_server.ticket(nick, age=30)
    if kind == "forged":
        tk = forge(tk)
    elif kind == "garbled":
        tk = "not-a-ticket-%%%"
    elif kind == "truncated":
        tk = tk[:len(tk) // 3]
    c = closed_server.client(transport)
    c.send("PASS " + tk)
    c.send("NICK " + nick)
    c.send("USER u 0 * :r")
    expect_464_and_close(c, nick)


@pytest.fixture(scope="module")
def expired_ticket(closed_server):
    """(nick, ticket) whose lifetime is over, minted once for both
    transports: the wait is the slow part."""
    salon_only("tickets")
    nick = uniq("Old")
    t0 = time.time()
    tk = closed_server.ticket(nick, age=30, ttl=1)
    # The ticket's lifetime is the thing under test: wait it out (whole
    # seconds, plus one for rounding).
    while time.time() < t0 + 2.5:
        time.sleep(0.1)
    return nick, tk


def test_ticket_expired_464(closed_server, transport, expired_ticket):
    salon_only("tickets")
    nick, tk = expired_ticket
    c = closed_server.client(transport)
    c.send("PASS " + tk)
    c.send("NICK " + nick)
    c.send("USER u 0 * :r")
    expect_464_and_close(c, nick)


# ---------------------------------------------------------------- timeouts

def test_registration_timeout(server_factory):
    salon_only("ngircd has no registration timeout setting")
    s = server_factory({"limits": {"registration_timeout": "1"}})
    # One client per transport, timing out side by side (one wait for both).
    cs = [s.tcp(name="slow-tcp"), s.ws(name="slow-ws")]
    t0 = time.monotonic()
    for c in cs:
        c.send("NICK " + uniq("Slow"))
    for c in cs:
        ln = c.expect("ERROR", timeout=T + 3)
        assert CLOSING_RE.match(ln.params[0]), (c.name, ln.raw)
        assert "Registration timed out" in ln.params[0], (c.name, ln.raw)
        c.expect_closed()
        assert time.monotonic() - t0 >= 0.5, c.name
    # A registered client is not affected.
    for kind in ("tcp", "ws"):
        d = s.client(kind)
        d.register(uniq("Quick"))
        d.sync()


def test_ping_timeout(server_factory):
    s = server_factory({"limits": {"ping_interval": "1",
                                   "ping_timeout": "1"}})
    room = "#" + uniq("pt")
    # A silent client per transport; `alive` (on WebSocket) answers.
    alive = s.ws(name="alive")
    silent = {"tcp": s.tcp(name="silent-tcp"), "ws": s.ws(name="silent-ws")}
    alive.register(uniq("Alive"))
    nicks = {}
    for kind, c in silent.items():
        c.register(uniq("Silent"))
        nicks[c.nick] = kind
    alive.join(room)
    for c in silent.values():
        c.join(room)
    for c in silent.values():
        ln = c.expect("PING", timeout=T + 3)
        assert ln.params == [SERVER_NAME], (c.name, ln.raw)
    # `alive` answers every PING and must see both silent ones leave.
    deadline = time.monotonic() + 4 * T
    gone = set()
    while gone != set(nicks):
        ln = alive.expect(lambda l: l.command in ("PING", "QUIT"),
                          timeout=max(0.1, deadline - time.monotonic()))
        if ln.command == "PING":
            alive.send("PONG :" + ln.params[-1])
            continue
        assert ln.nick in nicks and ln.nick not in gone, ln.raw
        assert re.fullmatch(r"Ping timeout: \d+ seconds", ln.params[0]), \
            ln.raw
        gone.add(ln.nick)
    for c in silent.values():
        ln = c.expect("ERROR")
        assert "Ping timeout" in ln.params[0], (c.name, ln.raw)
        c.expect_closed()
    alive.sync()
