"""Moderation (docs/moderation.md): reports keep their evidence and are on
disk before they are acknowledged, staff log in with CSRF protection, bans
hold (device, prefix), mutes silence, room operators never see addresses,
and the audit log detects tampering."""
import json
import os
import signal
import socket
import sqlite3
import subprocess

import pytest

import salonlib
from salonlib import uniq

pytestmark = pytest.mark.skipif(salonlib.TARGET != "salon", reason="salon-only moderation")

PASSWORD = salonlib.STAFF_PASSWORD


@pytest.fixture
def modsrv(server_factory):
    """A server with a staff account (accounts are read at start-up)."""
    s = salonlib.start_with_staff({"entry": {"open_registration": "false"}})
    yield s
    s.stop(check=True)
    s.cleanup()


http = salonlib.http_json


login = salonlib.staff_login


def enter(srv, nick, kind="tcp", age=30, source=None, caps=()):
    """A user who entered through the API (so with a device id)."""
    status, hdrs, doc = http(srv, "POST", "/api/v1/session",
                             {"nick": nick, "age": age, "gender": "unsaid", "region": "75",
                              "accept_rules": True}, source=source)
    assert status == 201, doc
    device = salonlib.cookie_value(hdrs, "salon_device")
    assert device, hdrs
    c = srv.client(kind, name=nick)
    c.send("PASS " + doc["ticket"])
    c.register(nick, caps=caps)
    return c, doc["ticket"], device


def test_report_is_on_disk_before_ack_and_survives_sigkill(modsrv):
    srv = modsrv
    room = "#" + uniq("r")
    a, _, _ = enter(srv, uniq("Bad"), caps=["message-tags"])
    b, _, _ = enter(srv, uniq("Vic"), kind="ws", caps=["message-tags"])
    a.join(room)
    b.join(room)
    a.send("PRIVMSG %s :message menacant" % room)
    msg = b.expect("PRIVMSG", params=[room, "message menacant"])
    b.send("REPORT %s threat :il me menace" % msg.tags["msgid"])
    ack = b.expect("NOTE", params=["REPORT", "RECEIVED", None, None])
    rid = int(ack.params[2])
    # Killed at once: no chance to flush anything after the acknowledgement.
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    db = sqlite3.connect(os.path.join(srv.data_dir, "salon.db"))
    row = db.execute("SELECT category, evidence, msgid FROM reports WHERE id = ?", (rid,)).fetchone()
    db.close()
    assert row is not None, "report %d not on disk" % rid
    assert row[0] == "threat" and row[2] == msg.tags["msgid"]
    evidence = json.loads(row[1])
    reported = [m for m in evidence if m["reported"]]
    assert reported and reported[0]["text"] == "message menacant"
    assert reported[0]["participant"]["address"] == "127.0.0.1"
    srv.proc = None
    srv.start()


def test_report_from_the_page_api_and_the_queue(modsrv):
    srv = modsrv
    nick_a, nick_b = uniq("Pest"), uniq("Rep")
    a, _, _ = enter(srv, nick_a)
    b, tb, _ = enter(srv, nick_b)
    status, _, doc = http(srv, "POST", "/api/v1/reports",
                          {"target": nick_a, "category": "harassment", "comment": "il insiste"},
                          headers={"Cookie": "salon_ticket=" + tb})
    assert status == 201 and doc["id"] > 0
    staff = login(srv)
    status, _, q = http(srv, "GET", "/api/v1/mod/reports", headers=staff)
    assert status == 200
    group = [g for g in q["groups"] if g["reported_nick"] == nick_a]
    assert group and group[0]["reports"][0]["category"] == "harassment"
    status, _, rep = http(srv, "GET", "/api/v1/mod/reports/%d" % doc["id"], headers=staff)
    assert status == 200 and rep["comment"] == "il insiste"
    assert rep["profile"]["connected"] is True


def test_user_cannot_use_staff_api_and_csrf_is_required(modsrv):
    srv = modsrv
    _, ticket, _ = enter(srv, uniq("Usr"))
    status, _, doc = http(srv, "GET", "/api/v1/mod/reports",
                          headers={"Cookie": "salon_ticket=" + ticket})
    assert status == 401 and doc["error"]["code"] == "staff_login_required"
    staff = login(srv)
    no_csrf = {"Cookie": staff["Cookie"]}
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "warn", "nick": "x", "reason": "r"}, headers=no_csrf)
    assert status == 403 and doc["error"]["code"] == "csrf"
    wrong = dict(staff, **{"X-CSRF-Token": "0" * 64})
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "warn", "nick": "x", "reason": "r"}, headers=wrong)
    assert status == 403
    status, _, doc = http(srv, "POST", "/api/v1/staff/login",
                          {"name": "mod1", "password": "wrong password!!"})
    assert status == 401 and doc["error"]["code"] == "bad_credentials"


def test_login_is_rate_limited(modsrv):
    srv = modsrv
    codes = [http(srv, "POST", "/api/v1/staff/login", {"name": "mod1", "password": "nope nope nope"},
                  source="127.0.0.9")[0] for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_banned_device_cannot_reenter_with_a_new_nick(modsrv):
    srv = modsrv
    nick = uniq("Ban")
    c, _, device = enter(srv, nick)
    staff = login(srv)
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "ban", "nick": nick, "ban_by": "device",
                           "reason": "harcelement repete", "rule": "harassment"}, headers=staff)
    assert status == 200, doc
    note = c.expect("NOTE", params=["MODERATION", "BAN", None, None])
    assert "harcelement repete" in note.params[-1] and "appeal" in note.params[-1].lower()
    c.expect("ERROR")
    c.expect_closed()
    status, _, err = http(srv, "POST", "/api/v1/session",
                          {"nick": uniq("Other"), "age": 30, "gender": "man", "region": "75",
                           "accept_rules": True}, headers={"Cookie": "salon_device=" + device})
    assert status == 403 and err["error"]["code"] == "banned"
    assert "ban " in err["error"]["message"]


def test_ban_by_prefix_catches_another_address(modsrv):
    srv = modsrv
    nick = uniq("Pre")
    staff = login(srv)
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "ban", "ban_by": "prefix", "pattern": "127.0.0.77",
                           "reason": "raid", "rule": "spam"}, headers=staff)
    assert status == 200, doc
    # 127.0.0.3 is in 127.0.0.0/24: refused at connection.
    s = socket.socket()
    s.bind(("127.0.0.3", 0))
    s.settimeout(salonlib.T)
    s.connect(("127.0.0.1", srv.irc_port))
    data = s.recv(4096)
    s.close()
    assert b"banned" in data.lower()
    # And the entry API refuses it too, with the ban id.
    status, _, err = http(srv, "POST", "/api/v1/session",
                          {"nick": nick, "age": 30, "gender": "man", "region": "75",
                           "accept_rules": True}, source="127.0.0.4")
    assert status == 403 and err["error"]["code"] == "banned"


def test_muted_user_reaches_nobody(modsrv):
    srv = modsrv
    room = "#" + uniq("m")
    nm = uniq("Mut")
    m, _, _ = enter(srv, nm)
    o, _, _ = enter(srv, uniq("Obs"), kind="ws")
    m.join(room)
    o.join(room)
    staff = login(srv)
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "mute", "nick": nm, "duration_s": 600,
                           "reason": "insultes", "rule": "harassment"}, headers=staff)
    assert status == 200, doc
    m.expect("NOTE", params=["MODERATION", "MUTE", None, None])
    m.send("PRIVMSG %s :je parle quand meme" % room)
    m.expect("FAIL", params=["PRIVMSG", "MUTED", room, None])
    o.assert_none("PRIVMSG")


def test_room_operator_never_sees_addresses(modsrv):
    srv = modsrv
    room = "#" + uniq("own")
    op, _, _ = enter(srv, uniq("Op"))
    guest_nick = uniq("Gst")
    guest, _, _ = enter(srv, guest_nick)
    op.join(room)
    guest.join(room)
    op.send("WHO " + room)
    who, _ = op.expect_all("352", until="315")
    op.send("WHOIS " + guest_nick)
    whois, _ = op.expect_all(None, until="318")
    op.send("MODE %s +b" % room)
    op.expect("368")
    for ln in who + whois:
        assert "127.0.0.1" not in ln.raw
    assert all(ln.params[3].endswith(".salon") for ln in who)


def test_audit_verify_detects_a_changed_byte(modsrv):
    srv = modsrv
    staff = login(srv)
    victim = uniq("Wrn")
    enter(srv, victim)
    status, _, _ = http(srv, "POST", "/api/v1/mod/actions",
                        {"action": "warn", "nick": victim, "reason": "langage", "rule": "other"},
                        headers=staff)
    assert status == 200
    srv.stop()
    verify = [salonlib.SALON_BIN, "audit", "verify", "--config", srv.config_path]
    r = subprocess.run(verify, capture_output=True, timeout=30, cwd=srv.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"chain intact" in r.stdout
    db = sqlite3.connect(os.path.join(srv.data_dir, "salon.db"))
    detail = db.execute("SELECT detail FROM audit WHERE action = 'warn'").fetchone()[0]
    changed = ("L" if detail[0] != "L" else "l") + detail[1:]
    db.execute("UPDATE audit SET detail = ? WHERE action = 'warn'", (changed,))
    db.commit()
    db.close()
    r = subprocess.run(verify, capture_output=True, timeout=30, cwd=srv.dir)
    assert r.returncode == 1 and b"modified" in r.stdout
    srv.start()


def test_search_public_rooms_only_and_every_look_is_audited(modsrv):
    srv = modsrv
    room = "#" + uniq("pub")
    na, nb = uniq("Ann"), uniq("Ben")
    a, _, _ = enter(srv, na)
    b, _, _ = enter(srv, nb)
    a.join(room)
    b.join(room)
    b.send("PMPOLICY everyone")
    b.expect("NOTE")
    a.send("PRIVMSG %s :rendez-vous au parc" % room)
    a.send("PRIVMSG %s :rendez-vous en prive" % nb)
    b.expect("PRIVMSG", params=[nb, "rendez-vous en prive"])
    staff = login(srv)
    status, _, doc = http(srv, "GET", "/api/v1/mod/search?q=rendez-vous", headers=staff)
    assert status == 200
    texts = [m["text"] for m in doc["messages"]]
    assert "rendez-vous au parc" in texts
    assert "rendez-vous en prive" not in texts      # private: never by browsing
    status, _, doc = http(srv, "GET", "/api/v1/mod/search?nick=%s&room=%%23%s" % (na, room[1:]),
                          headers=staff)
    assert [m["text"] for m in doc["messages"]] == ["rendez-vous au parc"]
    status, _, doc = http(srv, "GET", "/api/v1/mod/rooms/%%23%s" % room[1:], headers=staff)
    assert status == 200 and doc["messages"][0]["nick"] == na
    status, _, audit = http(srv, "GET", "/api/v1/mod/audit", headers=staff)
    actions = [e["action"] for e in audit["entries"]]
    assert actions.count("search") == 2 and "watch_room" in actions and "login" in actions


def test_delete_message_redacts_it_everywhere(modsrv):
    srv = modsrv
    room = "#" + uniq("del")
    na = uniq("Aut")
    a, _, _ = enter(srv, na, caps=["message-tags"])
    r, _, _ = enter(srv, uniq("Red"), kind="ws", caps=["message-tags", "draft/message-redaction"])
    p, _, _ = enter(srv, uniq("Pln"))
    for c in (a, r, p):
        c.join(room)
    a.send("PRIVMSG %s :propos haineux" % room)
    msgid = r.expect("PRIVMSG", params=[room, "propos haineux"]).tags["msgid"]
    p.expect("PRIVMSG", params=[room, "propos haineux"])
    staff = login(srv)
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "delete_message", "msgid": msgid, "reason": "propos haineux",
                           "rule": "hate"}, headers=staff)
    assert status == 200, doc
    r.expect("REDACT", params=[room, msgid, None])
    note = p.expect("NOTICE", params=[room, None])
    assert na in note.params[-1] and "removed" in note.params[-1]
    a.expect("NOTE", params=["MODERATION", "DELETE_MESSAGE", str(doc["action_id"]), None])
    # Gone from history too.
    r.send("CHATHISTORY LATEST %s * 10" % room)
    r.sync()
    assert not [ln for ln in r.pending if ln.command == "PRIVMSG" and "haineux" in ln.raw]


def test_appeal_is_queued_and_answered_and_a_ban_can_be_lifted(modsrv):
    srv = modsrv
    nick = uniq("App")
    c, ticket, device = enter(srv, nick)
    staff = login(srv)
    status, _, doc = http(srv, "POST", "/api/v1/mod/actions",
                          {"action": "ban", "nick": nick, "ban_by": "device", "duration_s": 3600,
                           "reason": "spam", "rule": "spam"}, headers=staff)
    assert status == 200
    c.expect_closed()
    status, _, ap = http(srv, "POST", "/api/v1/appeals",
                         {"action_id": doc["action_id"], "text": "je ne spammais pas"},
                         headers={"Cookie": "salon_device=" + device})
    assert status == 201 and ap["id"] > 0
    status, _, q = http(srv, "GET", "/api/v1/mod/reports", headers=staff)
    appeals = [r for g in q["groups"] for r in g["reports"] if r["category"] == "appeal"]
    assert appeals and appeals[0]["comment"] == "je ne spammais pas"
    ban_entry = [e for e in http(srv, "GET", "/api/v1/mod/audit", headers=staff)[2]["entries"]
                 if e["action"] == "ban"]
    assert len(ban_entry) == 1 and ("ban %d by device" % doc["ban_id"]) in ban_entry[0]["detail"]
    status, _, _ = http(srv, "POST", "/api/v1/mod/actions",
                        {"action": "unban", "ban_id": doc["ban_id"], "reason": "appel accepte"},
                        headers=staff)
    assert status == 200
    status, _, _ = http(srv, "POST", "/api/v1/mod/actions",
                        {"action": "answer_appeal", "report_id": ap["id"],
                         "reason": "appel accepte, bannissement levé"}, headers=staff)
    assert status == 200
    # The device may enter again.
    status, _, _ = http(srv, "POST", "/api/v1/session",
                        {"nick": uniq("Back"), "age": 30, "gender": "man", "region": "75",
                         "accept_rules": True}, headers={"Cookie": "salon_device=" + device})
    assert status == 201


@pytest.mark.parametrize("kind", salonlib.TRANSPORTS)
def test_staff_log_in_on_irc_with_sasl_plain_or_oper(modsrv, kind):
    import base64
    srv = modsrv
    c = srv.client(kind, name="staffsasl")
    c.send("CAP LS 302")
    ls = c.expect("CAP", params=["*", "LS", None])
    assert "sasl=PLAIN" in ls.params[-1].split()
    c.send("CAP REQ :sasl")
    c.expect("CAP", params=["*", "ACK", "sasl"])
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE", params=["+"])
    c.send("AUTHENTICATE " + base64.b64encode(b"\0mod1\0wrong password!!").decode())
    c.expect("904")
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE", params=["+"])
    c.send("AUTHENTICATE " + base64.b64encode(("\0mod1\0" + PASSWORD).encode()).decode())
    c.expect("900")
    c.expect("903")
    # A staff account may register without a session ticket.
    nick = uniq("Staff")
    c.send("NICK " + nick)
    c.send("USER s 0 * :s")
    c.send("CAP END")
    c.expect("001")
    # OPER from a user's connection: wrong then right password.
    u, _, _ = enter(srv, uniq("Usr"), kind=kind)
    u.send("OPER mod1 wrongwrongwrong")
    u.expect("464")
    u.send("OPER mod1 :" + PASSWORD)
    u.expect("381")
    staff = login(srv)
    entries = http(srv, "GET", "/api/v1/mod/audit", headers=staff)[2]["entries"]
    assert {"irc_login"} <= {e["action"] for e in entries}
    assert any("SASL" in e["detail"] for e in entries if e["action"] == "irc_login")
    assert any("OPER" in e["detail"] for e in entries if e["action"] == "irc_login")


def test_report_view_shows_the_sessions_past_nicks_and_actions(modsrv):
    srv = modsrv
    first, second = uniq("Old"), uniq("New")
    a, _, _ = enter(srv, first)
    b, tb, _ = enter(srv, uniq("Rep"))
    a.send("NICK " + second)
    a.expect("NICK", params=[second])
    staff = login(srv)
    status, _, _ = http(srv, "POST", "/api/v1/mod/actions",
                        {"action": "warn", "nick": second, "reason": "premier avertissement",
                         "rule": "harassment"}, headers=staff)
    assert status == 200
    status, _, rep = http(srv, "POST", "/api/v1/reports",
                          {"target": second, "category": "harassment", "comment": "encore"},
                          headers={"Cookie": "salon_ticket=" + tb})
    assert status == 201
    status, _, view = http(srv, "GET", "/api/v1/mod/reports/%d" % rep["id"], headers=staff)
    assert [n["nick"] for n in view["nicks"]] == [first, second]
    assert [(x["action"], x["reason"]) for x in view["actions"]] == [("warn", "premier avertissement")]


def test_watch_decodes_names_is_audited_once_and_search_skips_invite_only(modsrv):
    srv = modsrv
    room = "#café-" + uniq("x")
    secret = "#" + uniq("inv")
    a, _, _ = enter(srv, uniq("Caf"))
    a.join(room)
    a.join(secret)
    a.send("MODE %s +i" % secret)
    a.expect("MODE")
    a.send("PRIVMSG %s :bonjour tout le monde" % room)
    a.send("PRIVMSG %s :bonjour en petit comite" % secret)
    a.sync()
    staff = login(srv)
    from urllib.parse import quote
    for _ in range(3):
        status, _, doc = http(srv, "GET", "/api/v1/mod/rooms/" + quote(room, safe=""), headers=staff)
        assert status == 200 and doc["messages"][0]["text"] == "bonjour tout le monde"
    entries = http(srv, "GET", "/api/v1/mod/audit", headers=staff)[2]["entries"]
    assert [e["target"] for e in entries if e["action"] == "watch_room"] == [room]
    status, _, doc = http(srv, "GET", "/api/v1/mod/search?q=bonjour", headers=staff)
    rooms = {m["room"] for m in doc["messages"]}
    assert room in rooms and secret not in rooms
    status, _, err = http(srv, "GET", "/api/v1/mod/search?q=x&since=garbage", headers=staff)
    assert status == 400 and err["error"]["field"] == "since"
