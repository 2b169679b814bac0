"""04 modes: +n +t +m +i +k +l +b +o +v enforcement, KICK, INVITE and the
error numerics 482/441/442/443/472/471/473/474/475/502.

Each test runs twice (the `transport` fixture: the op's transport). The
first member and the outsider are on the other transport, so the actor and
the one a mode or KICK applies to are on different transports, both ways."""
import re

from salonlib import SERVER_NAME, other_transport, sync_all, uniq


def setup_room(srv, op_kind, n_members=1, outsider=True):
    """An op (creator, over op_kind) and n_members plain members in a fresh
    room, plus an outsider. Members alternate transports starting with the
    other one; the outsider is on the other one. Returns (room, op,
    [members], outsider)."""
    r = "#" + uniq("mode")
    kinds = (other_transport(op_kind), op_kind)
    op = srv.client(op_kind)
    op.register(uniq("Op"))
    op.join(r)
    ms = []
    for i in range(n_members):
        m = srv.client(kinds[i % 2])
        m.register(uniq("M%d" % i))
        m.join(r)
        ms.append(m)
    out = None
    if outsider:
        out = srv.client(kinds[0])
        out.register(uniq("Out"))
    for c in [op] + ms:
        c.sync()
    return r, op, ms, out


def set_mode(op, r, modes, *args, seen_by=()):
    """Op sets a mode; everyone in seen_by (and op) sees the MODE line."""
    op.send("MODE %s %s %s" % (r, modes, " ".join(args)))
    want = [r, modes] + list(args)
    for c in (op,) + tuple(seen_by):
        ln = c.expect("MODE", params=want)
        assert ln.nick == op.nick


def reset_flag(op, r, flag, others=()):
    """Clear a flag mode that a new room may have by default (+n, +t), so
    that setting it next is a real change that gets broadcast: a server does
    not echo a mode that is already set."""
    op.send("MODE %s -%s" % (r, flag))
    sync_all(op, *others)
    for c in (op,) + tuple(others):
        c.pending = [l for l in c.pending if l.command != "MODE"]


def chan_modes(c, r):
    c.send("MODE " + r)
    ln = c.expect("324")
    assert ln.params[:2] == [c.nick, r]
    assert ln.params[2].startswith("+")
    return ln.params[2][1:], ln.params[3:]


def test_mode_query_324_329(srv, transport):
    r, op, (m,), _ = setup_room(srv, transport)
    set_mode(op, r, "+m", seen_by=(m,))
    reset_flag(op, r, "n", (m,))
    set_mode(op, r, "+n", seen_by=(m,))
    modes, args = chan_modes(m, r)
    assert set("mn") <= set(modes), modes
    ln = m.expect("329")
    assert ln.params[:2] == [m.nick, r]
    assert re.fullmatch(r"\d+", ln.params[2])
    set_mode(op, r, "+k", "sesame", seen_by=(m,))
    set_mode(op, r, "+l", "10", seen_by=(m,))
    modes, args = chan_modes(m, r)
    assert "k" in modes and "l" in modes
    # Parameters follow the order of the mode letters.
    params = dict(zip([x for x in modes if x in "kl"], args))
    assert params == {"k": "sesame", "l": "10"}, (modes, args)


def test_no_external_messages_n(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    reset_flag(op, r, "n", (m,))
    set_mode(op, r, "+n", seen_by=(m,))
    out.send("PRIVMSG %s :from outside" % r)
    ln = out.expect("404")
    assert ln.params[:2] == [out.nick, r]
    sync_all(out, op, m)
    m.assert_none("PRIVMSG", sync=False)
    set_mode(op, r, "-n", seen_by=(m,))
    out.send("PRIVMSG %s :from outside again" % r)
    ln = m.expect("PRIVMSG", source=out.nick)
    assert ln.params == [r, "from outside again"]
    out.assert_none("404")


def test_topic_lock_t(srv, transport):
    r, op, (m,), _ = setup_room(srv, transport)
    reset_flag(op, r, "t", (m,))
    set_mode(op, r, "+t", seen_by=(m,))
    m.send("TOPIC %s :mine now" % r)
    ln = m.expect("482")
    assert ln.params[:2] == [m.nick, r]
    op.send("TOPIC %s :op topic" % r)
    m.expect("TOPIC", params=[r, "op topic"])
    set_mode(op, r, "-t", seen_by=(m,))
    m.send("TOPIC %s :anyone's topic" % r)
    op.expect("TOPIC", params=[r, "anyone's topic"], source=m.nick)


def test_moderated_m_and_voice_v(srv, transport):
    # v (voiced) on the other transport than op, m on op's.
    r, op, (v, m), _ = setup_room(srv, transport, n_members=2)
    set_mode(op, r, "+m", seen_by=(m, v))
    m.send("PRIVMSG %s :muted?" % r)
    ln = m.expect("404")
    assert ln.params[:2] == [m.nick, r]
    set_mode(op, r, "+v", v.nick, seen_by=(m, v))
    v.send("PRIVMSG %s :voiced speaks" % r)
    m.expect("PRIVMSG", params=[r, "voiced speaks"], source=v.nick)
    op.send("PRIVMSG %s :op speaks" % r)
    m.expect("PRIVMSG", params=[r, "op speaks"], source=op.nick)
    set_mode(op, r, "-v", v.nick, seen_by=(m, v))
    v.send("PRIVMSG %s :silenced" % r)
    v.expect("404")
    sync_all(m, v, op)
    op.assert_none("PRIVMSG", sync=False, params=[r, "muted?"])
    op.assert_none("PRIVMSG", sync=False, params=[r, "silenced"])


def test_invite_only_i_and_invite(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    set_mode(op, r, "+i", seen_by=(m,))
    out.send("JOIN " + r)
    ln = out.expect("473")
    assert ln.params[:2] == [out.nick, r]
    # Only ops may invite to a +i room (RFC 2812 3.2.7).
    m.send("INVITE %s %s" % (out.nick, r))
    ln = m.expect("482")
    assert ln.params[:2] == [m.nick, r]
    op.send("INVITE %s %s" % (out.nick, r))
    ln = op.expect("341")
    assert ln.params[:3] == [op.nick, out.nick, r]
    ln = out.expect("INVITE", source=op.nick)
    assert ln.params == [out.nick, r]
    out.join(r)
    m.expect("JOIN", source=out.nick)
    op.send("INVITE %s %s" % (m.nick, r))
    ln = op.expect("443")
    assert ln.params[:3] == [op.nick, m.nick, r]


def test_key_k(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    set_mode(op, r, "+k", "s3cret", seen_by=(m,))
    out.send("JOIN " + r)
    ln = out.expect("475")
    assert ln.params[:2] == [out.nick, r]
    out.send("JOIN %s wrong" % r)
    out.expect("475", params=[out.nick, r, None])
    out.join(r, key="s3cret")
    m.expect("JOIN", source=out.nick)
    op.send("MODE %s -k s3cret" % r)
    for c in (op, m, out):
        # The key in a -k echo may be shown or masked ("*").
        c.expect("MODE", params=[r, "-k", None], source=op.nick)
    late = srv.client(transport)
    late.register(uniq("Late"))
    late.join(r)


def test_limit_l(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    set_mode(op, r, "+l", "2", seen_by=(m,))
    out.send("JOIN " + r)
    ln = out.expect("471")
    assert ln.params[:2] == [out.nick, r]
    set_mode(op, r, "-l", seen_by=(m,))
    out.join(r)


def test_ban_b(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    mask = out.nick + "!*@*"
    set_mode(op, r, "+b", mask, seen_by=(m,))
    out.send("JOIN " + r)
    ln = out.expect("474")
    assert ln.params[:2] == [out.nick, r]
    # The list: 367 per mask, then 368.
    op.send("MODE %s +b" % r)
    got, end = op.expect_all("367", until="368")
    assert end.params[:2] == [op.nick, r]
    assert [l.params[:3] for l in got] == [[op.nick, r, mask]]
    # A banned member can't speak.
    mmask = m.nick + "!*@*"
    set_mode(op, r, "+b", mmask, seen_by=(m,))
    m.send("PRIVMSG %s :banned voice" % r)
    ln = m.expect("404")
    assert ln.params[:2] == [m.nick, r]
    sync_all(m, op)
    op.assert_none("PRIVMSG", sync=False, params=[r, "banned voice"])
    set_mode(op, r, "-b", mask, seen_by=(m,))
    out.join(r)


def test_op_o_grants_and_revokes(srv, transport):
    r, op, (m, w), _ = setup_room(srv, transport, n_members=2)
    set_mode(op, r, "+o", m.nick, seen_by=(m, w))
    # The new op can use op powers.
    m.send("MODE %s +m" % r)
    for c in (op, m, w):
        c.expect("MODE", params=[r, "+m"], source=m.nick)
    w.send("NAMES " + r)
    names = w.expect("353").params[3].split()
    assert "@" + m.nick in names and "@" + op.nick in names, names
    set_mode(op, r, "-o", m.nick, seen_by=(m, w))
    m.send("MODE %s -m" % r)
    ln = m.expect("482")
    assert ln.params[:2] == [m.nick, r]


def test_non_op_gets_482(srv, transport):
    r, op, (m,), _ = setup_room(srv, transport)
    for cmd in ("MODE %s +m" % r, "MODE %s +o %s" % (r, m.nick),
                "MODE %s +b x!*@*" % r, "KICK %s %s" % (r, op.nick)):
        m.send(cmd)
        ln = m.expect("482")
        assert ln.params[:2] == [m.nick, r], (cmd, ln.raw)
    sync_all(m, op)
    op.assert_none("MODE", sync=False)
    op.assert_none("KICK", sync=False)


def test_kick(srv, transport):
    r, op, (m, w), out = setup_room(srv, transport, n_members=2)
    op.send("KICK %s %s :behave" % (r, m.nick))
    for c in (op, m, w):
        ln = c.expect("KICK", source=op.nick)
        assert ln.params == [r, m.nick, "behave"]
    w.send("NAMES " + r)
    names = [n.lstrip("@+") for n in w.expect("353").params[3].split()]
    assert m.nick not in names and w.nick in names
    # Not in the room any more: PART gives 442, and room messages no longer
    # reach m.
    m.send("PART " + r)
    m.expect("442", params=[m.nick, r, None])
    op.send("PRIVMSG %s :after the kick" % r)
    w.expect("PRIVMSG", params=[r, "after the kick"], source=op.nick)
    sync_all(op, w, m)
    m.assert_none("PRIVMSG", sync=False, params=[r, "after the kick"])
    # Without a reason: still a KICK with the target.
    op.send("KICK %s %s" % (r, w.nick))
    ln = w.expect("KICK", source=op.nick)
    assert ln.params[:2] == [r, w.nick]


def test_kick_errors_441_442_401(srv, transport):
    r, op, (m,), out = setup_room(srv, transport)
    op.send("KICK %s %s" % (r, out.nick))
    ln = op.expect("441")
    assert ln.params[:3] == [op.nick, out.nick, r]
    out.send("KICK %s %s" % (r, m.nick))
    ln = out.expect("442")
    assert ln.params[:2] == [out.nick, r]
    ghost = "ghost" + uniq("")[-5:]
    op.send("KICK %s %s" % (r, ghost))
    ln = op.expect(lambda l: l.command in ("401", "441"))
    assert ln.params[:2] == [op.nick, ghost]
    sync_all(op, m)
    m.assert_none("KICK", sync=False)


def test_unknown_mode_472(srv, transport):
    r, op, _, _ = setup_room(srv, transport, n_members=0, outsider=False)
    op.send("MODE %s +Z" % r)
    ln = op.expect("472")
    assert ln.params[:2] == [op.nick, "Z"]


def test_mode_on_nonexistent_room_403(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Nomode"))
    bad = "#none" + uniq("")[-5:]
    c.send("MODE %s +m" % bad)
    ln = c.expect("403")
    assert ln.params[:2] == [c.nick, bad]


def test_user_modes_221_and_502(srv, transport):
    a, b = srv.client(transport), srv.client(other_transport(transport))
    a.register(uniq("Self"))
    b.register(uniq("Other"))
    a.send("MODE " + a.nick)
    ln = a.expect("221")
    assert ln.source == SERVER_NAME
    assert ln.params[0] == a.nick and ln.params[1].startswith("+")
    a.send("MODE %s +i" % b.nick)
    ln = a.expect("502")
    assert ln.params[0] == a.nick
