"""The one-step entry API (docs/api.md): POST/GET/DELETE /api/v1/session,
the locked age, the device cookie and the room directory, and the ticket
it returns used over WebSocket and TCP."""
import re
import time

import pytest

import salonlib
from salonlib import uniq

SERVER_CONFIG = {"entry": {"open_registration": "false"}}

pytestmark = pytest.mark.skipif(salonlib.TARGET != "salon", reason="salon-only API")


def api(srv, method, path="/api/v1/session", body=None, cookies=None,
        ctype="application/json"):
    """One request; returns (status, headers, json body or None), with
    every Set-Cookie line in headers["set-cookie"], joined by " | "."""
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join("%s=%s" % kv for kv in cookies.items())
    if body is None and method == "POST":
        body = b""
    status, hdrs, doc = salonlib.http_json(srv, method, path, body, headers,
                                           ctype=ctype)
    hdrs["set-cookie"] = " | ".join(hdrs["set-cookie"])
    return status, hdrs, doc


def entry(nick, age=30, gender="woman", region="75", **extra):
    body = {"nick": nick, "age": age, "gender": gender, "region": region,
            "accept_rules": True}
    body.update(extra)
    return body


def new_device(srv):
    """A fresh device id, as the server issues it."""
    status, headers, doc = api(srv, "POST", body={"nick": "x"}, ctype="text/plain")
    assert status == 415
    m = re.search(r"salon_device=([0-9a-f]{32})", headers.get("set-cookie", ""))
    assert m, headers
    return m.group(1)


def test_entry_creates_session_with_ticket_and_cookies(srv):
    nick = uniq("Cam")
    status, headers, doc = api(srv, "POST", body=entry(nick, age=27, show_region=True))
    assert status == 201, doc
    assert doc["ticket"].startswith("v1.")
    assert doc["profile"] == {"nick": nick, "age_band": "25-34", "gender": "woman",
                              "region": "75", "show_region": True,
                              "created": doc["profile"]["created"]}
    assert salonlib.SERVER_TIME_RE.match(doc["expires"])
    cookie = headers.get("set-cookie", "")
    assert re.search(r"salon_device=[0-9a-f]{32}; Path=/; Max-Age=\d+; HttpOnly; SameSite=Lax",
                     cookie), cookie
    assert "salon_ticket=%s; Path=/api; Max-Age=" % doc["ticket"] in cookie
    assert "SameSite=Strict" in cookie
    # Exact age is never returned, only the band.
    assert "age" not in doc["profile"]
    assert 27 not in doc["profile"].values() and "27" not in doc["profile"].values()


def test_ticket_from_api_registers_over_ws_and_profile_is_visible(srv):
    nick, other = uniq("Ana"), uniq("Obs")
    status, _, doc = api(srv, "POST", body=entry(nick, age=41, gender="man",
                                                  region="13", show_region=True))
    assert status == 201
    ws = srv.ws(name=nick)
    ws.send("PASS " + doc["ticket"])
    ws.register(nick)
    status, _, doc2 = api(srv, "POST", body=entry(other, age=22, region="69"))
    tcp = srv.tcp(name=other)
    tcp.send("PASS " + doc2["ticket"])
    tcp.register(other, caps=["extended-join"])
    room = "#" + uniq("e")
    ws.join(room)
    tcp.join(room)
    ws.expect("JOIN", source=other)
    # extended-join carries the server's profile line; region hidden by choice.
    ws.send("WHO " + room)
    who, _ = ws.expect_all("352", until="315")
    real = {ln.params[5]: ln.params[-1] for ln in who}
    assert real[nick].endswith("35-49 man 13")
    assert real[other].endswith("18-24 woman")


def test_user_realname_cannot_change_the_profile(srv):
    nick = uniq("Liar")
    _, _, doc = api(srv, "POST", body=entry(nick, age=55, gender="other", region="BE"))
    c = srv.tcp(name=nick)
    c.send("PASS " + doc["ticket"])
    c.register(nick, realname="18-24 woman 75")
    c.send("WHOIS " + nick)
    ln = c.expect("311")
    assert ln.params[-1] == "50+ other"


def test_returning_visitor_gets_the_same_session(srv):
    nick = uniq("Ret")
    _, _, doc = api(srv, "POST", body=entry(nick))
    status, _, again = api(srv, "GET", cookies={"salon_ticket": doc["ticket"]})
    assert status == 200
    assert again["ticket"] == doc["ticket"] and again["profile"] == doc["profile"]
    # A second entry from the same browser cannot change the profile.
    status, _, err = api(srv, "POST", body=entry(uniq("New"), age=19),
                         cookies={"salon_ticket": doc["ticket"]})
    assert status == 409 and err["error"]["code"] == "session_exists"


def test_no_session_and_leaving(srv):
    status, _, err = api(srv, "GET")
    assert status == 401 and err["error"]["code"] == "no_session"
    status, headers, _ = api(srv, "DELETE")
    assert status == 204
    assert "salon_ticket=; Path=/api; Max-Age=0" in headers.get("set-cookie", "")


def test_expired_ticket_is_reported(server_factory):
    srv = server_factory({"entry": {"open_registration": "false", "ticket_ttl": "1"}})
    _, _, doc = api(srv, "POST", body=entry(uniq("Exp")))
    time.sleep(1.1)     # the lifetime itself is what is tested
    status, _, err = api(srv, "GET", cookies={"salon_ticket": doc["ticket"]})
    assert status == 401 and err["error"]["code"] == "expired"
    c = srv.tcp(name="exp")
    c.send("PASS " + doc["ticket"])
    c.expect("464")
    c.expect_closed()


def test_underage_is_refused_and_the_device_is_locked(srv):
    device = new_device(srv)
    jar = {"salon_device": device}
    status, _, err = api(srv, "POST", body=entry(uniq("Kid"), age=15), cookies=jar)
    assert status == 403
    assert err["error"]["code"] == "underage" and err["error"]["field"] == "age"
    assert "3018" in err["error"]["message"]
    # The same device claiming another age is refused, whatever it says.
    status, _, err = api(srv, "POST", body=entry(uniq("Kid"), age=25), cookies=jar)
    assert status == 429 and err["error"]["code"] == "age_locked"
    assert 86000 < err["error"]["retry_after"] <= 86400
    # Another device is not affected.
    status, _, _ = api(srv, "POST", body=entry(uniq("Adult"), age=25),
                       cookies={"salon_device": new_device(srv)})
    assert status == 201


def test_age_lock_survives_a_restart(server_factory):
    srv = server_factory({"entry": {"open_registration": "false"}})
    device = new_device(srv)
    status, _, _ = api(srv, "POST", body=entry(uniq("Kid"), age=16),
                       cookies={"salon_device": device})
    assert status == 403
    srv.stop()
    srv.start()
    status, _, err = api(srv, "POST", body=entry(uniq("Kid"), age=30),
                         cookies={"salon_device": device})
    assert status == 429 and err["error"]["code"] == "age_locked"


@pytest.mark.parametrize("body,code,field", [
    ({"age": 30, "gender": "woman", "region": "75", "accept_rules": True}, "missing_field", "nick"),
    ({"nick": "9lives", "age": 30, "gender": "woman", "region": "75", "accept_rules": True},
     "invalid_nick", "nick"),
    ({"nick": "ok", "age": "30", "gender": "woman", "region": "75", "accept_rules": True},
     "invalid_age", "age"),
    ({"nick": "ok", "age": 30.5, "gender": "woman", "region": "75", "accept_rules": True},
     "invalid_age", "age"),
    ({"nick": "ok", "age": 30, "gender": "robot", "region": "75", "accept_rules": True},
     "invalid_gender", "gender"),
    ({"nick": "ok", "age": 30, "gender": "man", "region": "20", "accept_rules": True},
     "invalid_region", "region"),
    ({"nick": "ok", "age": 30, "gender": "man", "region": "2A", "show_region": "yes",
      "accept_rules": True}, "invalid_field", "show_region"),
    ({"nick": "ok", "age": 30, "gender": "man", "region": "CH"}, "rules_not_accepted",
     "accept_rules"),
])
def test_field_errors(srv, body, code, field):
    status, _, err = api(srv, "POST", body=body)
    assert status == 400
    assert err["error"]["code"] == code and err["error"]["field"] == field
    assert err["error"]["message"]


def test_bad_bodies(srv):
    status, _, err = api(srv, "POST", body=b"{not json")
    assert status == 400 and err["error"]["code"] == "invalid_json"
    status, _, err = api(srv, "POST", body=b"[1, 2]")
    assert status == 400 and err["error"]["code"] == "invalid_json"
    status, _, err = api(srv, "POST", body=b'{"nick": "a", "nick": "b"}')
    assert status == 400 and err["error"]["code"] == "invalid_json"
    status, _, err = api(srv, "POST", body=entry("x"), ctype="text/plain")
    assert status == 415 and err["error"]["code"] == "unsupported_media_type"
    status, headers, err = api(srv, "POST", body=b"{" + b" " * 40000 + b"}")
    assert status == 413 and headers["content-type"] == "application/json"
    assert err["error"]["code"] == "body_too_large"
    # Outside the API, HTTP errors stay plain text.
    st, headers, _ = api(srv, "POST", path="/healthz", body=b"{" + b" " * 40000 + b"}")
    assert st == 413 and headers["content-type"].startswith("text/plain")


def test_nick_in_use(srv):
    nick = uniq("Busy")
    _, _, doc = api(srv, "POST", body=entry(nick))
    c = srv.tcp(name=nick)
    c.send("PASS " + doc["ticket"])
    c.register(nick)
    status, _, err = api(srv, "POST", body=entry(nick.upper()))
    assert status == 409 and err["error"]["code"] == "nick_in_use"


def test_room_directory(srv):
    status, _, doc = api(srv, "GET", path="/api/v1/rooms")
    assert status == 200
    rooms = {r["name"]: r for r in doc["rooms"]}
    assert rooms["#accueil"]["category"] == "theme"
    nick = uniq("Dir")
    _, _, t = api(srv, "POST", body=entry(nick))
    c = srv.tcp(name=nick)
    c.send("PASS " + t["ticket"])
    c.register(nick)
    room = "#" + uniq("mine")
    c.join(room)
    c.send("TOPIC %s :chez moi" % room)
    c.expect("TOPIC")
    _, _, doc = api(srv, "GET", path="/api/v1/rooms")
    mine = [r for r in doc["rooms"] if r["name"] == room]
    assert mine == [{"name": room, "topic": "chez moi", "category": "user", "members": 1}]
    # Invite-only rooms are not listed.
    c.send("MODE %s +i" % room)
    c.expect("MODE")
    _, _, doc = api(srv, "GET", path="/api/v1/rooms")
    assert room not in {r["name"] for r in doc["rooms"]}
