"""07 bad input: over-long and unterminated lines, NUL, invalid UTF-8, line
endings, garbage commands; WebSocket protocol errors (1002/1007/1009),
fragmentation, ping, subprotocols; HTTP errors. The server must survive all
of it and keep serving new clients (last test). The IRC-level cases run over
TCP and WebSocket (the `transport` fixture: the sender's)."""
import os
import socket
import struct
import time

import pytest

from salonlib import (SCALE, SERVER_NAME, T, WS_BIN, WS_CLOSE, WS_CONT,
                      WS_PING, WS_PONG, WS_TEXT, Closed, Timeout, TARGET,
                      allow_private, http_request, other_transport,
                      read_http_response, salon_only, sync_all, uniq,
                      ws_accept_key)

ws_only = pytest.mark.skipif(TARGET != "salon", reason="salon's WebSocket")


def sender(srv, kind, binary=False):
    """A client over kind; binary: over WebSocket, the binary.ircv3.net
    subprotocol (text frames must be UTF-8 at the WebSocket level, so bytes
    that are not can only reach the IRC layer in binary frames)."""
    if kind == "ws" and binary:
        return srv.ws(protocol="binary.ircv3.net")
    return srv.client(kind)


def pair(srv, caps=(), kind="tcp", binary=False):
    """A sender (over kind) and a listener (over the other transport) in a
    fresh room."""
    r = "#" + uniq("bad")
    a = sender(srv, kind, binary)
    b = srv.client(other_transport(kind))
    a.register(uniq("Bad"))
    b.register(uniq("Lis"), caps=caps)
    a.join(r)
    b.join(r)
    b.sync()
    return r, a, b


# ---------------------------------------------------------------- IRC lines

def test_overlong_line_417_connection_survives(srv, transport):
    salon_only("salon's 417")
    r, a, b = pair(srv, kind=transport)
    # Over the 512-byte limit of the non-tag part. A WebSocket message is
    # one line: 6000 bytes there is over the message limit, a close 1009
    # (tested below), so the WebSocket line stays under that limit.
    n = 6000 if transport == "tcp" else 1000
    a.send("PRIVMSG %s :%s" % (r, "a" * n))
    ln = a.expect("417")
    assert ln.source == SERVER_NAME
    assert ln.params == [a.nick, "Input line was too long"]
    a.send("PRIVMSG %s :still here" % r)
    b.expect("PRIVMSG", params=[r, "still here"])
    b.assert_none("PRIVMSG", pred=lambda l: l.params[-1].startswith("aaa"))


def test_long_tags_within_limit_are_accepted(srv, transport):
    salon_only("IRCv3 tags")
    r, a, b = pair(srv, caps=["message-tags"], kind=transport)
    big = "y" * 4000
    a.send("@+big=%s PRIVMSG %s :tagged long" % (big, r))
    ln = b.expect("PRIVMSG", params=[r, "tagged long"])
    assert ln.tags.get("+big") == big
    a.assert_none("417")


def test_megabyte_without_newline_is_discarded(srv):
    salon_only("salon's 417")
    r, a, b = pair(srv)
    rss0 = srv.rss_kb()
    a.send_raw(b"PRIVMSG " + r.encode() + b" :" + b"z" * (1 << 20),
               timeout=10 * T)
    a.send_raw(b"\r\nPING :after-megabyte\r\n")
    a.expect("PONG", pred=lambda l: l.params[-1] == "after-megabyte",
             timeout=3 * T)
    n417 = [l for l in a.history if l.command == "417"]
    assert len(n417) == 1, [l.raw for l in n417]
    b.assert_none("PRIVMSG")
    grown_mb = (srv.rss_kb() - rss0) / 1024
    assert grown_mb < 16 * (4 if SCALE > 1 else 1), \
        "RSS grew %.1f MiB for one discarded line" % grown_mb


def test_nul_byte_400(srv, transport):
    salon_only("salon's 400")
    r, a, b = pair(srv, kind=transport)
    a.send(("PRIVMSG %s :nul\x00inside" % r).encode())
    ln = a.expect("400")
    assert ln.params[:2] == [a.nick, "PRIVMSG"], ln.raw
    sync_all(a, b)
    b.assert_none("PRIVMSG", sync=False)


def test_invalid_utf8_fail_and_not_executed(srv, transport):
    salon_only("salon's INVALID_UTF8")
    r, a, b = pair(srv, kind=transport, binary=True)
    a.send(b"PRIVMSG " + r.encode() + b" :bad \xff\xfe bytes")
    ln = a.expect("FAIL")
    assert ln.params[:2] == ["PRIVMSG", "INVALID_UTF8"], ln.raw
    a.send(b"TOPIC " + r.encode() + b" :\xc3\x28 overlong")
    ln = a.expect("FAIL")
    assert ln.params[:2] == ["TOPIC", "INVALID_UTF8"], ln.raw
    sync_all(a, b)
    b.assert_none("PRIVMSG", sync=False)
    b.assert_none("TOPIC", sync=False)
    c = sender(srv, transport, binary=True)
    c.send(b"NICK caf\xe9")
    ln = c.expect("FAIL")
    assert ln.params[:2] == ["NICK", "INVALID_UTF8"], ln.raw


def test_line_endings_cr_lf_crlf_and_empty_lines(srv):
    c = srv.tcp()
    c.register(uniq("Ends"))
    c.send_raw(b"PING :one\rPING :two\nPING :three\r\n\r\n\n\r")
    for tok in ("one", "two", "three"):
        ln = c.expect("PONG")
        assert ln.params[-1] == tok, ln.raw
    # A line split across writes is reassembled.
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.send_raw(b"PI")
    # Give the first half its own segment (no server state to wait for:
    # nothing can come back before the line is complete).
    time.sleep(0.05)
    c.send_raw(b"NG :split\r\n")
    ln = c.expect("PONG")
    assert ln.params[-1] == "split"
    c.assert_none(lambda l: l.command in ("421", "461", "FAIL"))


def test_unknown_and_malformed_commands(srv, transport):
    c = srv.client(transport)
    c.register(uniq("Garb"))
    for cmd in ("FOO", "PRIVMSGX", "XYZZY"):
        c.send(cmd + " a b")
        ln = c.expect("421")
        assert ln.params[:2] == [c.nick, cmd], ln.raw
    # Lines that are hard to parse: whatever the replies, the connection
    # and the server survive.
    for junk in (":onlyprefix", "@only=tags", "@a=b :src", " ", "   x",
                 ":x PRIVMSG", "PRIVMSG " + " ".join("p%d" % i
                                                     for i in range(40)),
                 "@" + ";".join("k%d=v" % i for i in range(300)) + " PING :t",
                 "JOIN " + ",".join("#j%d" % i for i in range(200)),
                 "PRIVMSG " + ",".join("n%d" % i for i in range(200)) + " :x"):
        c.send(junk)
    c.sync(timeout=3 * T)


# ---------------------------------------------------------------- WebSocket

@ws_only
def test_ws_unmasked_frame_close_1002(srv):
    w = srv.ws()
    w.send_frame(WS_TEXT, "PING :x", mask=False)
    assert w.expect_close() == 1002
    w.expect_closed()


@ws_only
def test_ws_invalid_utf8_text_close_1007(srv):
    w = srv.ws()
    w.register(uniq("Wutf"))
    w.send_frame(WS_TEXT, b"PRIVMSG nobody :\xff\xfe")
    assert w.expect_close() == 1007
    w.expect_closed()


@ws_only
def test_ws_invalid_utf8_split_across_fragments_close_1007(srv):
    w = srv.ws()
    w.send_frame(WS_TEXT, b"PING :\xe2\x82", fin=False)
    w.send_frame(WS_CONT, b"(", fin=True)
    assert w.expect_close() == 1007


@ws_only
def test_ws_oversize_frame_close_1009(srv):
    w = srv.ws()
    # Announce 1 MiB; the server may refuse on the header alone.
    w.send_frame(WS_TEXT, b"", length=1 << 20)
    try:
        w.send_bytes(b"\0" * 65536, timeout=T)
    except OSError:
        pass
    assert w.expect_close() == 1009


@ws_only
def test_ws_oversize_fragmented_message_close_1009(srv):
    w = srv.ws()
    chunk = b"a" * 4096
    w.send_frame(WS_TEXT, b"PRIVMSG x :" + chunk, fin=False)
    sent = 0
    while w.close_code is None:
        assert sent < 8 << 20, "8 MiB fragmented message accepted"
        try:
            w.send_frame(WS_CONT, chunk, fin=False)
        except OSError:
            break
        sent += len(chunk)
        try:
            w._fill(time.monotonic() + 0.001)
        except (Timeout, Closed):
            pass
    assert w.expect_close() == 1009


@ws_only
def test_ws_fragmented_message_reassembled_with_ping_between(srv):
    r = "#" + uniq("frag")
    w, t = srv.ws(), srv.tcp()
    w.register(uniq("Frag"))
    t.register(uniq("Tfr"))
    w.join(r)
    t.join(r)
    w.send_frame(WS_TEXT, "PRIV", fin=False)
    w.send_frame(WS_CONT, "MSG %s :fragmented " % r, fin=False)
    w.send_frame(WS_PING, "mid")
    w.send_frame(WS_CONT, "h\u00e9llo", fin=True)
    ln = t.expect("PRIVMSG", source=w.nick)
    assert ln.params == [r, "fragmented h\u00e9llo"]
    w.sync()
    assert b"mid" in w.pongs


@ws_only
def test_ws_ping_pong(srv):
    w = srv.ws()
    w.send_frame(WS_PING, b"\x01payload\x02")
    deadline = time.monotonic() + T
    while not w.pongs:
        fin, op, payload = w.recv_frame(max(0.01, deadline - time.monotonic()))
        if op == WS_PONG:
            w.pongs.append(payload)
    assert w.pongs == [b"\x01payload\x02"]


@ws_only
def test_ws_close_handshake(srv):
    w = srv.ws()
    w.register(uniq("Bye"))
    w.send_frame(WS_CLOSE, struct.pack("!H", 1000) + b"bye")
    assert w.expect_close() == 1000
    w.expect_closed()


@ws_only
def test_ws_text_subprotocol_uses_text_frames(srv):
    w = srv.ws(protocol="text.ircv3.net")
    assert w.negotiated == "text.ircv3.net"
    w.register(uniq("Txt"))
    assert w.data_opcodes == {WS_TEXT}


@ws_only
def test_ws_binary_subprotocol(srv):
    w = srv.ws(protocol="binary.ircv3.net")
    assert w.negotiated == "binary.ircv3.net"
    t = srv.tcp()
    t.register(uniq("Tbin"))
    allow_private(t)
    w.register(uniq("Bin"))
    assert w.data_opcodes == {WS_BIN}
    w.send("PRIVMSG %s :over binary \u2713" % t.nick)
    ln = t.expect("PRIVMSG", source=w.nick)
    assert ln.params == [t.nick, "over binary \u2713"]
    # Binary frames carry bytes: bad UTF-8 is an IRC-level error, not a
    # WebSocket close.
    w.send(b"PRIVMSG " + t.nick.encode() + b" :\xff")
    ln = w.expect("FAIL")
    assert ln.params[:2] == ["PRIVMSG", "INVALID_UTF8"]
    w.sync()


@ws_only
def test_ws_server_messages_have_no_crlf(srv):
    # WsClient asserts on every message; exercise a varied stream.
    w = srv.ws()
    w.register(uniq("Crlf"), caps=["message-tags", "server-time"])
    r = "#" + uniq("crlf")
    w.join(r)
    w.send("TOPIC %s :a topic" % r)
    w.send("WHO " + r)
    w.send("LIST")
    w.expect("323")
    w.drain()
    assert w.frames and all(b"\r" not in p and b"\n" not in p
                            for _, op, p in w.frames if op in (1, 2))


# ---------------------------------------------------------------- HTTP

def http(srv, raw):
    if not srv.http_port:
        pytest.skip("no HTTP listener on this target")
    return http_request(srv.http_port, raw)


def test_http_healthz(srv):
    st, h, body, _ = http(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
    assert st == 200
    assert body.strip() == b"ok"


def test_http_static_file(srv):
    st, h, body, _ = http(srv, b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
    assert st == 200
    assert b"salon test page" in body


def test_http_path_traversal_refused(srv):
    with open(srv.dir + "/secret.txt", "w") as f:
        f.write("TOP SECRET")
    for path in (b"/../secret.txt", b"/%2e%2e/secret.txt",
                 b"/..%2fsecret.txt"):
        st, h, body, _ = http(srv, b"GET " + path + b" HTTP/1.1\r\n"
                                   b"Host: x\r\nConnection: close\r\n\r\n")
        assert st in (400, 403, 404), (path, st)
        assert b"TOP SECRET" not in body


def test_http_404(srv):
    st, *_ = http(srv, b"GET /no-such-page-here HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    assert st == 404


def test_http_405(srv):
    st, *_ = http(srv, b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    assert st == 405


def test_http_431_huge_headers(srv):
    raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 262144 +
           b"\r\n\r\n")
    st, *_ = http(srv, raw)
    assert st == 431


def test_http_413_huge_body(srv):
    st, *_ = http(srv, b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 1073741824\r\n\r\n" + b"b" * 4096)
    assert st == 413


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
])
def test_http_400_malformed(srv, raw):
    st, *_ = http(srv, raw)
    assert st in (400, 505) if b"9.9" in raw else st == 400


def upgrade(srv, key=True, version="13", protocol="text.ircv3.net"):
    raw = ("GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: %s\r\n" % version)
    if key:
        raw += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    if protocol:
        raw += "Sec-WebSocket-Protocol: %s\r\n" % protocol
    return http(srv, (raw + "\r\n").encode())


def test_ws_upgrade_missing_key_400(srv):
    st, *_ = upgrade(srv, key=False)
    assert st == 400


def test_ws_upgrade_wrong_version_426(srv):
    st, h, *_ = upgrade(srv, version="8")
    assert st == 426
    # RFC 6455 4.4: tell the client which version we speak.
    assert h.get("sec-websocket-version") == "13"


def test_ws_upgrade_ok_headers(srv):
    st, h, *_ = upgrade(srv)
    assert st == 101
    assert h.get("upgrade", "").lower() == "websocket"
    assert "upgrade" in h.get("connection", "").lower()
    assert h.get("sec-websocket-accept") == ws_accept_key(
        "dGhlIHNhbXBsZSBub25jZQ==")
    assert h.get("sec-websocket-protocol") == "text.ircv3.net"


def test_http_keepalive_two_requests(srv):
    if not srv.http_port:
        pytest.skip("no HTTP listener")
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=T)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body, rest = read_http_response(s)
        assert st == 200
        if h.get("connection", "").lower() == "close":
            return   # allowed (RFC 9112 9.6), if announced
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body, rest = read_http_response(s, buf=rest)
        assert st == 200 and body.strip() == b"ok"
    finally:
        s.close()


# ---------------------------------------------------------------- afterwards

def test_server_still_serves_new_clients(srv):
    r = "#" + uniq("after")
    t = srv.tcp()
    t.register(uniq("AfterT"))
    w = srv.ws()
    w.register(uniq("AfterW"))
    t.join(r)
    w.join(r)
    t.send("PRIVMSG %s :all good" % r)
    assert w.expect("PRIVMSG").params == [r, "all good"]
    if srv.http_port:
        st, h, body, _ = http_request(
            srv.http_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")
        assert st == 200


def test_http_directory_without_slash_redirects(srv):
    os.makedirs(os.path.join(srv.web_root, "mod"), exist_ok=True)
    with open(os.path.join(srv.web_root, "mod", "index.html"), "w") as f:
        f.write("<!doctype html><title>dashboard</title>\n")
    status, headers, _, _ = http_request(
        srv.http_port, b"GET /mod HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 301 and headers["location"] == "/mod/"
    status, headers, body, _ = http_request(
        srv.http_port, b"GET /mod/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"dashboard" in body
