"""02 rooms: catalogue, JOIN/PART/NAMES/LIST/TOPIC/WHO/WHOIS, user rooms.
JOIN and PART run over TCP and WebSocket (the `transport` fixture), with the
room's other members on the other transport."""
import re

from salonlib import (PROFILE_RE, SERVER_NAME, TARGET, other_transport,
                      salon_only, uniq)

LOBBY_TOPIC = "Bienvenue au salon \u2014 pr\u00e9sentez-vous !"
SERVER_CONFIG = {
    "room #lobby": {"topic": LOBBY_TOPIC, "category": "theme"},
    "room #paris": {"topic": "Parisiens et Franciliens",
                    "category": "region"},
    "room #25-34ans": {"topic": "Pour les 25\u201334 ans",
                       "category": "age"},
}
CATALOGUE = {"#lobby": LOBBY_TOPIC, "#paris": "Parisiens et Franciliens",
             "#25-34ans": "Pour les 25\u201334 ans"}


def list_rooms(c):
    """LIST → {room: (count, topic)}; checks the 321/322/323 framing."""
    c.send("LIST")
    got, end = c.expect_all("322", until="323")
    assert end.params[0] == c.nick
    out = {}
    for ln in got:
        assert ln.params[0] == c.nick
        assert re.fullmatch(r"\d+", ln.params[2]), ln.raw
        out[ln.params[1].lower()] = (int(ln.params[2]), ln.params[3])
    return out


def room():
    return "#" + uniq("room")


def real_name_ok(got, user_real_name):
    """salon shows the session's profile as the real name, never the one
    given in USER (docs/protocol.md, "Profiles"); ngircd shows USER's."""
    if TARGET != "salon":
        return got == user_real_name
    return PROFILE_RE.fullmatch(got) is not None


def test_catalogue_rooms_exist_at_start_with_topics(srv):
    c = srv.tcp()
    c.register(uniq("Lister"))
    rooms = list_rooms(c)
    for name, topic in CATALOGUE.items():
        assert name in rooms, rooms
        assert rooms[name][1] == topic


def test_list_start_numeric(srv):
    c = srv.tcp()
    c.register(uniq("Lister"))
    c.send("LIST")
    ln = c.expect("321")
    assert ln.params[0] == c.nick
    c.expect("323")


def test_join_catalogue_room_topic_names_order(srv, transport):
    # b (the joiner) on `transport`, a (already there) on the other one.
    a, b = srv.client(other_transport(transport)), srv.client(transport)
    a.register(uniq("Ann"))
    b.register(uniq("Ben"))
    a.join("#lobby")
    b.send("JOIN #lobby")
    j = b.expect("JOIN", source=b.nick)
    assert j.params == ["#lobby"]
    t = b.expect("332")
    assert t.params == [b.nick, "#lobby", LOBBY_TOPIC]
    tw = b.expect("333")
    assert tw.params[:2] == [b.nick, "#lobby"] and len(tw.params) == 4
    assert re.fullmatch(r"\d+", tw.params[3]), tw.raw
    n = b.expect("353")
    assert n.params[:3] == [b.nick, "=", "#lobby"]
    names = n.params[3].split()
    e = b.expect("366")
    assert e.params[:2] == [b.nick, "#lobby"]
    order = [b.history.index(x) for x in (j, t, tw, n, e)]
    assert order == sorted(order), [x.raw for x in (j, t, tw, n, e)]
    # Nobody is op in a catalogue room by default.
    assert b.nick in names and a.nick in names, names
    # The member already there sees the join, with the full source.
    ln = a.expect("JOIN", source=b.nick)
    assert ln.params == ["#lobby"]
    assert re.fullmatch(r"[^!@ ]+![^!@ ]+@[^!@ ]+", ln.source), ln.source


def test_user_room_created_with_op_and_removed_when_empty(srv, transport):
    r = room()
    a, b = srv.client(transport), srv.client(other_transport(transport))
    a.register(uniq("Creator"))
    b.register(uniq("Second"))
    _, names = a.join(r)
    assert names == ["@" + a.nick]
    assert r in list_rooms(b)
    a.send("TOPIC %s :temporary topic" % r)
    a.expect("TOPIC")
    a.send("PART %s :bye" % r)
    ln = a.expect("PART", source=a.nick)
    assert ln.params == [r, "bye"]
    assert r not in list_rooms(b), "empty user room still listed"
    # Recreated: the new creator is op and the old topic is gone.
    b.send("JOIN " + r)
    b.expect("JOIN", source=b.nick)
    n = b.expect("353")
    assert n.params[3].split() == ["@" + b.nick]
    b.expect("366")
    b.assert_none("332")


def test_room_emptied_by_quit_disappears(srv, transport):
    r = room()
    a, b = srv.client(transport), srv.client(other_transport(transport))
    a.register(uniq("Q"))
    b.register(uniq("W"))
    a.join(r)
    a.send("QUIT")
    a.expect_closed()
    b.sync()
    assert r not in list_rooms(b)


def test_catalogue_room_survives_empty_and_has_no_op(srv, transport):
    a = srv.client(transport)
    a.register(uniq("Paris"))
    _, names = a.join("#paris")
    assert "@" + a.nick not in names and a.nick in names
    a.send("PART #paris")
    a.expect("PART", source=a.nick)
    rooms = list_rooms(a)
    assert "#paris" in rooms
    assert rooms["#paris"][1] == "Parisiens et Franciliens"
    _, names = a.join("#paris")
    assert a.nick in names


def test_room_names_are_case_insensitive(srv, transport):
    base = uniq("#Mixed")
    a, b = srv.client(other_transport(transport)), srv.client(transport)
    a.register(uniq("Up"))
    b.register(uniq("Low"))
    a.join(base)
    b.send("JOIN " + base.upper())
    b.expect("JOIN", source=b.nick)
    b.expect("366")
    ln = a.expect("JOIN", source=b.nick)
    assert ln.params[0].lower() == base.lower()


def test_part_errors_and_broadcast(srv, transport):
    # b (who parts) and c (who gets the errors) on `transport`, a (who
    # sees the PART) on the other one.
    r = room()
    a = srv.client(other_transport(transport))
    b, c = srv.client(transport), srv.client(transport)
    a.register(uniq("Pa"))
    b.register(uniq("Pb"))
    c.register(uniq("Pc"))
    a.join(r)
    b.join(r)
    b.send("PART %s :gone fishing" % r)
    for x in (a, b):
        ln = x.expect("PART", source=b.nick)
        assert ln.params == [r, "gone fishing"]
    c.send("PART " + r)
    ln = c.expect("442")
    assert ln.params[:2] == [c.nick, r]
    c.send("PART #nosuchroom" + uniq(""))
    ln = c.expect("403")
    assert ln.params[0] == c.nick and ln.params[1].startswith("#nosuchroom")


def test_join_bad_names_403(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Badj"))
    for bad in ("nohash", "#" + "a" * 50, "#bel\x07l"):
        c.send("JOIN " + bad)
        ln = c.expect("403")
        assert ln.params[:2] == [c.nick, bad], ln.raw
    ok = ("#" + uniq("") + "b" * 50)[:50]
    assert len(ok) == 50
    c.join(ok)


def test_join_several_rooms_with_keys(srv, transport):
    k1, k2, k3 = room(), room(), room()
    a, b = srv.client(other_transport(transport)), srv.client(transport)
    a.register(uniq("Keeper"))
    b.register(uniq("Joiner"))
    a.join(k1)
    a.join(k2)
    a.send("MODE %s +k key1" % k1)
    a.expect("MODE", params=[k1, "+k", "key1"])
    a.send("MODE %s +k key2" % k2)
    a.expect("MODE", params=[k2, "+k", "key2"])
    b.send("JOIN %s,%s,%s key1,wrong" % (k1, k2, k3))
    b.expect("JOIN", params=[k1], source=b.nick)
    ln = b.expect("475")
    assert ln.params[:2] == [b.nick, k2]
    b.expect("JOIN", params=[k3], source=b.nick)
    a.expect("JOIN", params=[k1], source=b.nick)
    a.assert_none("JOIN", params=[k2], source=b.nick)


def test_names_prefixes_multi_prefix_userhost(srv):
    salon_only("ngircd lacks userhost-in-names")
    r = room()
    op = srv.tcp()
    op.register(uniq("Op"))
    plain = srv.tcp()
    plain.register(uniq("Plain"))
    multi = srv.ws()
    multi.register(uniq("Multi"), caps=["multi-prefix"])
    uh = srv.tcp()
    uh.register(uniq("Uh"), caps=["userhost-in-names"])
    op.join(r)
    op.send("MODE %s +v %s" % (r, op.nick))
    op.expect("MODE", params=[r, "+v", op.nick])
    for x in (plain, multi, uh):
        x.join(r)
    plain.send("NAMES " + r)
    ln = plain.expect("353")
    assert ln.params[:3] == [plain.nick, "=", r]
    names = ln.params[3].split()
    assert "@" + op.nick in names and plain.nick in names, names
    end = plain.expect("366")
    assert end.params[:2] == [plain.nick, r]
    multi.send("NAMES " + r)
    names = multi.expect("353").params[3].split()
    assert "@+" + op.nick in names, names
    uh.send("NAMES " + r)
    names = uh.expect("353").params[3].split()
    ops = [n for n in names if n.startswith("@")]
    assert len(ops) == 1 and re.fullmatch(
        r"@%s![^!@ ]+@[^!@ ]+" % re.escape(op.nick), ops[0]), names


def test_topic_query_set_and_broadcast(srv):
    r = room()
    a, b = srv.tcp(), srv.ws()
    a.register(uniq("Top"))
    b.register(uniq("Reader"))
    a.join(r)
    b.join(r)
    b.send("TOPIC " + r)
    ln = b.expect("331")
    assert ln.params[:2] == [b.nick, r]
    a.send("TOPIC %s :Fresh topic \u00e9t\u00e9" % r)
    for x in (a, b):
        ln = x.expect("TOPIC", source=a.nick)
        assert ln.params == [r, "Fresh topic \u00e9t\u00e9"]
    b.send("TOPIC " + r)
    ln = b.expect("332")
    assert ln.params == [b.nick, r, "Fresh topic \u00e9t\u00e9"]
    ln = b.expect("333")
    assert ln.params[:2] == [b.nick, r]
    assert ln.params[2].split("!")[0] == a.nick
    assert re.fullmatch(r"\d+", ln.params[3])
    rooms = list_rooms(b)
    assert rooms[r] == (2, "Fresh topic \u00e9t\u00e9")


def test_who_room(srv):
    r = room()
    a, b = srv.tcp(), srv.tcp()
    a.register(uniq("Whoa"), realname="Real A")
    b.register(uniq("Whob"))
    a.join(r)
    b.join(r)
    b.send("AWAY :lunch")
    b.expect("306")
    b.send("WHO " + r)
    got, end = b.expect_all("352", until="315")
    assert end.params[:2] == [b.nick, r]
    rows = {ln.params[5]: ln for ln in got}
    assert set(rows) == {a.nick, b.nick}, [l.raw for l in got]
    ra = rows[a.nick]
    assert ra.params[0] == b.nick and ra.params[1] == r
    assert ra.params[4] == SERVER_NAME
    assert ra.params[6] == "H@", ra.raw
    hops, _, real = ra.params[7].partition(" ")
    assert re.fullmatch(r"\d+", hops), ra.raw
    assert real_name_ok(real, "Real A"), ra.raw
    assert rows[b.nick].params[6] == "G", rows[b.nick].raw


def test_whois(srv):
    r = room()
    a, b = srv.tcp(), srv.ws()
    a.register(uniq("Target"), realname="Someone Real")
    b.register(uniq("Asker"))
    a.join(r)
    a.send("AWAY :not here")
    a.expect("306")
    b.send("WHOIS " + a.nick)
    got, end = b.expect_all(until="318")
    assert end.params[:2] == [b.nick, a.nick]
    by = {}
    for ln in got:
        by.setdefault(ln.command, ln)
    assert {"311", "319", "312", "301"} <= set(by), [l.raw for l in got]
    p = by["311"].params
    assert p[0] == b.nick and p[1] == a.nick and p[4] == "*"
    assert real_name_ok(p[5], "Someone Real"), by["311"].raw
    assert by["319"].params[:2] == [b.nick, a.nick]
    assert "@" + r in by["319"].params[2].split()
    assert by["312"].params[:3] == [b.nick, a.nick, SERVER_NAME]
    assert by["301"].params == [b.nick, a.nick, "not here"]
    b.send("WHOIS nosuchnick" + uniq("")[-4:])
    ln = b.expect("401")
    assert ln.params[0] == b.nick and ln.params[1].startswith("nosuchnick")
    ln = b.expect("318")
    assert ln.params[1].startswith("nosuchnick")


def test_user_rooms_disabled_403(server_factory):
    salon_only("user_rooms is a salon setting")
    s = server_factory({"rooms": {"user_rooms": "false"},
                        "room #lobby": {"topic": "Lobby",
                                        "category": "theme"}})
    c = s.tcp()
    c.register(uniq("Nouser"))
    r = room()
    c.send("JOIN " + r)
    ln = c.expect("403")
    assert ln.params[:2] == [c.nick, r]
    _, names = c.join("#lobby")
    assert names == [c.nick]


def test_too_many_rooms_405(server_factory):
    s = server_factory({"limits": {"max_rooms_per_user": "2"}})
    # The limit is per user, whatever the transport: one of each, on one
    # server.
    for kind in ("tcp", "ws"):
        c = s.client(kind)
        c.register(uniq("Greedy"))
        r1, r2, r3 = room(), room(), room()
        c.join(r1)
        c.join(r2)
        c.send("JOIN " + r3)
        ln = c.expect("405")
        assert ln.params[:2] == [c.nick, r3], (kind, ln.raw)
        c.assert_none("JOIN", params=[r3])
        # Leaving one makes room for another.
        c.send("PART " + r1)
        c.expect("PART")
        c.join(r3)
