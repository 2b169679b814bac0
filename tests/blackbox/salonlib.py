"""Black-box harness for salon: start the real binary, talk IRC over TCP and
WebSocket.

Only the standard library: the WebSocket client is hand-written so that tests
can send frames a library would refuse to (unmasked, oversize, fragmented,
invalid UTF-8).

Every wait is on a condition with a deadline; nothing sleeps for a fixed time
to "let the server settle". Timeouts are generous (ASan builds are slow) and
only matter when a test fails.

SALON_TARGET=ngircd runs the TCP side of the suite against Debian's ngircd
instead of salon: a check of the harness (and of the expectations that are
plain IRC) against an independent server. Tests that need salon-only features
skip themselves there.
"""
import base64
import hashlib
import itertools
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SALON_BIN = os.environ.get("SALON_BIN") or os.path.join(
    REPO, "build", "release", "salon")
TARGET = os.environ.get("SALON_TARGET", "salon")
SERVER_NAME = "salon.test"

# Sanitizer builds run several times slower: stretch every deadline.
_default_scale = 3.0 if "asan" in SALON_BIN else 1.0
SCALE = float(os.environ.get("SALON_TIMEOUT_SCALE", _default_scale))
T = 5.0 * SCALE            # a typical wait for a reply
START_T = 15.0 * SCALE     # server start-up
STOP_T = 10.0 * SCALE      # clean exit after SIGTERM

_counter = itertools.count(1)

# The client transports every IRC-level behaviour is proven over.
TRANSPORTS = ("tcp", "ws")
# Ordered pairs of transports, for tests with two parties (an actor and a
# target): each pair mixes them, both ways, plus each one on its own.
TRANSPORT_PAIRS = [("tcp", "ws"), ("ws", "tcp"), ("ws", "ws"), ("tcp", "tcp")]


def other_transport(kind):
    """The transport that is not kind."""
    return "ws" if kind == "tcp" else "tcp"


def uniq(prefix):
    """A nick/room/text fragment unique within this test run. It ends with
    a letter: a nick ending in 10-17 reads as a minor's age to the name
    rules (rules/*/names.rules) and is refused."""
    return "%s%d%sq" % (prefix, next(_counter), os.urandom(2).hex())


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Timeout(AssertionError):
    pass


class Closed(AssertionError):
    """The server closed the connection while we waited for something."""


# ---------------------------------------------------------------- IRC lines

_TAG_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            if i + 1 < len(v):
                out.append(_TAG_UNESCAPE.get(v[i + 1], v[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class Line:
    """One parsed IRC line: tags (dict), source, command (upper), params."""

    def __init__(self, raw):
        if isinstance(raw, bytes):
            self.raw_bytes = raw
            raw = raw.decode("utf-8", "replace")
        else:
            self.raw_bytes = raw.encode("utf-8", "replace")
        self.raw = raw
        self.tags = {}
        self.source = None
        rest = raw
        if rest.startswith("@"):
            tagstr, _, rest = rest[1:].partition(" ")
            for item in tagstr.split(";"):
                if not item:
                    continue
                k, eq, v = item.partition("=")
                self.tags[k] = unescape_tag(v) if eq else ""
            rest = rest.lstrip(" ")
        if rest.startswith(":"):
            self.source, _, rest = rest[1:].partition(" ")
            rest = rest.lstrip(" ")
        self.params = []
        cmd, _, rest = rest.partition(" ")
        self.command = cmd.upper()
        while rest:
            rest = rest.lstrip(" ")
            if not rest:
                break
            if rest.startswith(":"):
                self.params.append(rest[1:])
                break
            p, _, rest = rest.partition(" ")
            self.params.append(p)
        self.time = None  # monotonic arrival time, set by the client

    @property
    def nick(self):
        """The nick part of the source (or the whole source)."""
        return self.source.split("!", 1)[0] if self.source else None

    def __repr__(self):
        return "<Line %r>" % self.raw


def _param_ok(want, got):
    if want is None:
        return True
    if isinstance(want, re.Pattern):
        return want.search(got) is not None
    return want == got


def matcher(what=None, params=None, source=None, tags=None, pred=None):
    """Build a predicate on Line.

    what: a command or numeric ("001", "PRIVMSG"); or a compiled regex /
          other string searched in the raw line; or a callable.
    params: list compared to all of line.params (same length); an entry of
          None matches anything, a compiled regex is searched.
    source: exact source, or a nick (matched against line.nick).
    tags: dict of tag → value (None: tag must be present, any value).
    """
    def f(ln):
        if what is not None:
            if callable(what) and not isinstance(what, (str, re.Pattern)):
                if not what(ln):
                    return False
            elif isinstance(what, re.Pattern):
                if not what.search(ln.raw):
                    return False
            elif re.fullmatch(r"[A-Za-z]+|\d{3}", what):
                if ln.command != what.upper():
                    return False
            elif not re.search(what, ln.raw):
                return False
        if params is not None:
            if len(params) != len(ln.params):
                return False
            if not all(_param_ok(w, g) for w, g in zip(params, ln.params)):
                return False
        if source is not None and ln.source != source and ln.nick != source:
            return False
        if tags is not None:
            for k, v in tags.items():
                if k not in ln.tags or (v is not None and ln.tags[k] != v):
                    return False
        if pred is not None and not pred(ln):
            return False
        return True
    return f


# ---------------------------------------------------------------- clients

class Client:
    """Common IRC client API over a transport (TCP or WebSocket).

    Received lines go to `pending` until an expect() consumes them; every
    line ever received is also in `history`. expect() searches `pending` in
    arrival order, so lines it skips stay available for later assertions.
    """

    def __init__(self, server, name="?"):
        self.server = server
        self.name = name
        self.pending = []
        self.history = []
        self.nick = None
        self.closed = False
        self.server_caps = {}
        self.welcome = []
        self.sock = None

    # transport hooks: _send_line(bytes) and _read_some(timeout) -> list of
    # raw lines (bytes), [] on timeout; raises Closed at EOF.

    def send(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self._send_line(line)

    def send_many(self, lines, timeout=T):
        """Send several lines in one write (one TCP segment or one run of
        WebSocket frames): the server sees them arrive together."""
        self._send_batch([l.encode("utf-8") if isinstance(l, str) else l
                          for l in lines], timeout)

    def recv_line(self, timeout=T):
        """Next unconsumed line (consumes it). Raises Timeout / Closed."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            self._fill(deadline)
        return self.pending.pop(0)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("%s: nothing arrived in time" % self.name)
        for raw in self._read_some(left):
            ln = Line(raw)
            ln.time = time.monotonic()
            self.pending.append(ln)
            self.history.append(ln)

    def expect(self, what=None, params=None, timeout=T, source=None,
               tags=None, pred=None):
        """Wait for the first pending/arriving line that matches; consume
        and return it. Non-matching lines stay pending."""
        f = matcher(what, params, source, tags, pred)
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for i in range(checked, len(self.pending)):
                if f(self.pending[i]):
                    return self.pending.pop(i)
            checked = len(self.pending)
            try:
                self._fill(deadline)
            except Timeout:
                raise Timeout("%s: timed out waiting for %s params=%r; "
                              "pending:\n  %s" % (
                                  self.name, what, params, "\n  ".join(
                                      l.raw for l in self.pending[-30:])))
            except Closed:
                raise Closed("%s: connection closed while waiting for %s "
                             "params=%r; pending:\n  %s" % (
                                 self.name, what, params, "\n  ".join(
                                     l.raw for l in self.pending[-30:])))

    def expect_all(self, what=None, params=None, until=None, timeout=T,
                   **kw):
        """Consume lines up to and including the one matching `until`;
        return those matching what/params (in order) and the until line."""
        end = self.expect(until, timeout=timeout)
        f = matcher(what, params, **kw)
        got, keep = [], []
        idx = self.history.index(end)
        for ln in self.pending:
            if self.history.index(ln) < idx and f(ln):
                got.append(ln)
            else:
                keep.append(ln)
        self.pending = keep
        return got, end

    def sync(self, timeout=T):
        """Sentinel: PING a unique token and wait for its PONG. Everything
        the server queued to us before handling this PING is then pending."""
        tok = uniq("sync")
        self.send("PING " + tok)
        self.expect("PONG", pred=lambda l: l.params and l.params[-1] == tok,
                    timeout=timeout)

    def drain(self, timeout=T):
        """sync() and return (and clear) everything pending."""
        self.sync(timeout)
        out, self.pending = self.pending, []
        return out

    def assert_none(self, what=None, params=None, sync=True, **kw):
        """Assert no line matching arrived (after a sync sentinel)."""
        if sync:
            self.sync()
        f = matcher(what, params, **kw)
        bad = [l.raw for l in self.pending if f(l)]
        assert not bad, "%s: unexpected line(s): %r" % (self.name, bad)

    def expect_closed(self, timeout=T):
        """Wait for EOF; return the lines that arrived before it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except Closed:
                self.closed = True
                return self.pending
            except Timeout:
                raise Timeout("%s: connection not closed; pending: %r" % (
                    self.name, [l.raw for l in self.pending[-20:]]))

    def register(self, nick, caps=(), user=None, realname="Black Box",
                 password=None, cap_ls=True, timeout=T):
        """CAP LS 302 [/ CAP REQ] / CAP END, PASS, NICK, USER; wait for
        001..376 (or 422). Returns the welcome lines."""
        if cap_ls:
            self.send("CAP LS 302")
            while True:
                ln = self.expect("CAP", timeout=timeout)
                more = len(ln.params) >= 4 and ln.params[2] == "*"
                for c in ln.params[-1].split():
                    k, _, v = c.partition("=")
                    self.server_caps[k] = v
                if not more:
                    break
            if caps:
                self.send("CAP REQ :" + " ".join(caps))
                ln = self.expect("CAP", timeout=timeout)
                assert ln.params[1] == "ACK", "CAP REQ refused: " + ln.raw
                assert sorted(ln.params[2].split()) == sorted(caps), ln.raw
            self.send("CAP END")
        elif caps:
            raise ValueError("caps need CAP LS")
        if password is not None:
            self.send("PASS " + password)
        self.send("NICK " + nick)
        self.send("USER %s 0 * :%s" % (
            user or re.sub(r"[^a-z0-9]", "", nick.lower())[:9] or "u",
            realname))
        first = self.expect("001", timeout=timeout)
        self.nick = first.params[0]
        self.caps = set(caps)
        end = self.expect(lambda l: l.command in ("376", "422"),
                          timeout=timeout)
        i0 = self.history.index(first)
        i1 = self.history.index(end)
        self.welcome = self.history[i0:i1 + 1]
        self.pending = [l for l in self.pending
                        if self.history.index(l) > i1]
        return self.welcome

    def join(self, room, key=None, timeout=T):
        """JOIN and wait for the end of NAMES; return (join line, names)."""
        self.send("JOIN %s%s" % (room, " " + key if key else ""))
        j = self.expect("JOIN", source=self.nick,
                        pred=lambda l: l.params[0].lower() == room.lower(),
                        timeout=timeout)
        names = []
        while True:
            ln = self.expect(lambda l: l.command in ("353", "366") and
                             l.params[2 if l.command == "353" else 1].lower()
                             == room.lower(), timeout=timeout)
            if ln.command == "366":
                break
            names += ln.params[-1].split()
        return j, names

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        self.closed = True


class TcpClient(Client):
    def __init__(self, server, name="tcp", port=None, rcvbuf=None,
                 timeout=T):
        super().__init__(server, name)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port or server.irc_port))
        self.sock.setblocking(False)
        self.buf = b""

    def send_raw(self, data, timeout=T):
        """Send bytes as they are (no CRLF added)."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _send_line(self, line):
        self.send_raw(line + b"\r\n")

    def _send_batch(self, lines, timeout):
        self.send_raw(b"".join(l + b"\r\n" for l in lines), timeout)

    def _read_some(self, timeout):
        if self.sock is None:
            raise Closed(self.name + ": closed locally")
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return []
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except BlockingIOError:
            return []
        if not data:
            if self.buf:
                rest, self.buf = self.buf, b""
                return [rest]
            raise Closed(self.name + ": EOF")
        parts = (self.buf + data).split(b"\n")
        self.buf = parts.pop()
        out = []
        for raw in parts:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if raw:
                out.append(raw)
        return out


# WebSocket opcodes (RFC 6455 section 5.2)
WS_CONT, WS_TEXT, WS_BIN, WS_CLOSE, WS_PING, WS_PONG = 0, 1, 2, 8, 9, 10
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept_key(key):
    return base64.b64encode(hashlib.sha1(
        (key + WS_GUID).encode()).digest()).decode()


def http_request(port, raw, timeout=T):
    """Send raw bytes to the HTTP listener; return (status, headers, body,
    rest) of the first response. Reads until the body is complete or the
    server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        # Large requests go in pieces; stop as soon as the server answers
        # (it may refuse early and close: keep its response readable).
        for i in range(0, len(raw), 65536):
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            try:
                s.sendall(raw[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                break
        return read_http_response(s, timeout)
    finally:
        s.close()


def read_http_response(s, timeout=T, buf=b""):
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d = b""
        except socket.timeout:
            raise Timeout("no complete HTTP response; got %r" % buf[:300])
        if not d:
            break
        buf += d
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        raise Closed("connection closed before an HTTP response: %r" %
                     buf[:300])
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    assert m, "bad status line %r" % lines[0]
    status = int(m.group(1))
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    clen = int(headers.get("content-length", "0") or 0)
    if status != 101:
        while len(body) < clen:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                d = b""
            if not d:
                break
            body += d
        rest = body[clen:]
        body = body[:clen]
    else:
        rest, body = body, b""
    return status, headers, body, rest


class WsClient(Client):
    """IRC over WebSocket (GET /irc), one IRC line per message.

    Server messages must not contain CR or LF (IRCv3 WebSocket spec); every
    received message is checked for that.
    """

    def __init__(self, server, name="ws", protocol="text.ircv3.net",
                 path="/irc", timeout=T, extra_headers="", rcvbuf=None):
        super().__init__(server, name)
        self.protocol = protocol
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so that the window is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", server.http_port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (path, server.http_port, key))
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        req += extra_headers + "\r\n"
        self.sock.sendall(req.encode())
        status, headers, _, rest = read_http_response(self.sock, timeout)
        self.handshake = (status, headers)
        assert status == 101, "WebSocket upgrade failed: %d %r" % (
            status, headers)
        assert headers.get("sec-websocket-accept") == ws_accept_key(key), \
            headers
        self.negotiated = headers.get("sec-websocket-protocol")
        self.sock.setblocking(False)
        self.buf = rest
        self.pos = 0
        self.frag = None          # (opcode, bytes) of a message in progress
        self.frames = []          # every frame received: (fin, op, payload)
        self.close_code = None
        self.close_reason = None
        self.pongs = []
        self.data_opcodes = set()

    # -- frames

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0,
                   length=None, mask_key=None):
        """Send one frame. length overrides the length field (lying)."""
        self.send_bytes(self.frame_bytes(opcode, payload, fin, mask, rsv,
                                         length, mask_key))

    def frame_bytes(self, opcode, payload=b"", fin=True, mask=True, rsv=0,
                    length=None, mask_key=None):
        """One encoded client frame (masked unless told otherwise)."""
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        hdr = bytes([b0])
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([mbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = mask_key or os.urandom(4)
            hdr += key
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        return hdr + payload

    def send_bytes(self, data, timeout=T):
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _data_opcode(self):
        return WS_BIN if self.negotiated == "binary.ircv3.net" else WS_TEXT

    def _send_line(self, line):
        self.send_frame(self._data_opcode(), line)

    def _send_batch(self, lines, timeout):
        op = self._data_opcode()
        self.send_bytes(b"".join(self.frame_bytes(op, l) for l in lines),
                        timeout)

    def _parse_frame(self):
        # self.buf[self.pos:] is unparsed (an offset, not re-slicing, keeps
        # parsing linear when many small frames arrive at once).
        if self.pos > 65536:
            self.buf, self.pos = self.buf[self.pos:], 0
        b = memoryview(self.buf)[self.pos:]
        if len(b) < 2:
            return None
        fin, op = b[0] >> 7, b[0] & 0x0F
        masked, n = b[1] >> 7, b[1] & 0x7F
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", b[2:4])[0]
            i = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", b[2:10])[0]
            i = 10
        assert not masked, "server frames must not be masked (RFC 6455 5.1)"
        if len(b) < i + n:
            return None
        payload = bytes(b[i:i + n])
        assert b[0] & 0x70 == 0, "server set RSV bits: %r" % bytes(b[:2])
        self.pos += i + n
        return fin, op, payload

    def recv_frame(self, timeout=T):
        """Next raw frame (fin, opcode, payload). Raises Timeout / Closed."""
        deadline = time.monotonic() + timeout
        while True:
            fr = self._parse_frame()
            if fr:
                self.frames.append(fr)
                return fr
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("%s: no frame in time" % self.name)
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            except BlockingIOError:
                continue
            if not d:
                raise Closed("%s: EOF" % self.name)
            self.buf += d

    def _read_some(self, timeout):
        if self.sock is None:
            raise Closed(self.name + ": closed locally")
        if self.close_code is not None:
            raise Closed("%s: server sent close %s" % (self.name,
                                                       self.close_code))
        try:
            fin, op, payload = self.recv_frame(timeout)
        except Timeout:
            return []
        if op == WS_PING:
            self.send_frame(WS_PONG, payload)
            return []
        if op == WS_PONG:
            self.pongs.append(payload)
            return []
        if op == WS_CLOSE:
            self.close_code = (struct.unpack("!H", payload[:2])[0]
                               if len(payload) >= 2 else 1005)
            self.close_reason = payload[2:]
            raise Closed("%s: server sent close %s %r" % (
                self.name, self.close_code, self.close_reason))
        if op in (WS_TEXT, WS_BIN):
            self.data_opcodes.add(op)
            self.frag = (op, payload)
        elif op == WS_CONT:
            assert self.frag is not None, "continuation without a start"
            self.frag = (self.frag[0], self.frag[1] + payload)
        else:
            raise AssertionError("unknown opcode %d from server" % op)
        if not fin:
            return []
        msg = self.frag[1]
        self.frag = None
        assert b"\r" not in msg and b"\n" not in msg, \
            "server WS message contains CR/LF: %r" % msg
        return [msg]

    def expect_close(self, timeout=T):
        """Wait for the server's close frame; return its code. Data frames
        that arrive first are kept in pending."""
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            try:
                self._fill(deadline)
            except Closed:
                if self.close_code is None:
                    raise
        return self.close_code


# ---------------------------------------------------------------- servers

DEFAULTS = {
    "server": {"name": SERVER_NAME, "log_level": "info"},
    "entry": {"open_registration": "true"},
    # Tests run many commands quickly from one address: lift the flood and
    # per-address limits unless a test is about them.
    "limits": {"per_address": "1000", "max_connections": "2000"},
    "flood": {"rate": "1000", "burst": "1000"},
    # The shipped rule packs, with the rate and spam limits lifted like the
    # flood limit above; tests/blackbox/09-protection.py and 10-raids.py
    # run their own servers with the shipped defaults.
    # One compiled-rules cache for every server of the run: each start then
    # reads the databases instead of compiling the packs again.
    "protection": {"rules_dir": os.path.join(REPO, "rules"),
                   "rules_cache": os.path.join(tempfile.gettempdir(),
                                               "salon-rules-cache-%d" % os.getuid()),
                   "messages_per_minute": "1000000",
                   "duplicate_targets": "8", "duplicate_sessions": "8",
                   "first_contacts_per_hour": "32",
                   "first_contacts_new": "32",
                   "new_links_max": "1000", "new_mentions_max": "1000",
                   "connect_per_minute": "1000000",
                   "connect_prefix_per_minute": "1000000"},
}

# The shipped defaults of [protection] (docs/rules.md), for the tests
# that exercise them.
PROTECTION_DEFAULTS = {
    "rules_dir": os.path.join(REPO, "rules"),
    "messages_per_minute": "30", "duplicate_targets": "3",
    "duplicate_sessions": "5",
    "first_contacts_per_hour": "10", "first_contacts_new": "3",
    "new_links_max": "1", "new_mentions_max": "3",
    "connect_per_minute": "20", "connect_prefix_per_minute": "60",
}


def merge_config(*layers):
    out = {}
    for layer in layers:
        for sec, kv in (layer or {}).items():
            out.setdefault(sec, {}).update(
                {k: str(v) for k, v in kv.items()})
    return out


class Server:
    """One salon process on free loopback ports in a private directory."""

    def __init__(self, config=None, tmpdir=None):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="salon-bb-")
        self.data_dir = os.path.join(self.dir, "data")
        self.web_root = os.path.join(self.dir, "web")
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.web_root, exist_ok=True)
        with open(os.path.join(self.web_root, "index.html"), "w") as f:
            f.write("<!doctype html><title>salon test page</title>\n")
        self.overrides = config or {}
        self.proc = None
        self.clients = []
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.config_path = os.path.join(self.dir, "salon.conf")
        self.runs = 0

    @property
    def name(self):
        return self.config["server"]["name"]

    def write_config(self):
        self.irc_port = free_port()
        self.http_port = free_port()
        self.config = merge_config(DEFAULTS, {
            "server": {"data_dir": self.data_dir},
            "listen": {"irc": "127.0.0.1:%d" % self.irc_port,
                       "http": "127.0.0.1:%d" % self.http_port,
                       "web_root": self.web_root},
        }, self.overrides)
        with open(self.config_path, "w") as f:
            for sec, kv in self.config.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    def cmdline(self):
        return [SALON_BIN, "--config", self.config_path]

    def start(self):
        self.write_config()
        self.runs += 1
        err = open(self.stderr_path, "ab")
        err.write(b"\n==== run %d ====\n" % self.runs)
        err.flush()
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, cwd=self.dir)
        err.close()
        self.wait_ready()
        return self

    def ports(self):
        return [p for p in (self.irc_port, self.http_port) if p]

    def wait_ready(self, timeout=START_T):
        """Poll-connect every listener until all accept (or the process
        dies, or the deadline passes)."""
        deadline = time.monotonic() + timeout
        todo = set(self.ports())
        while todo:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s during start-up:"
                                     "\n%s" % (self.proc.returncode,
                                               self.stderr()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not listen on %r in %.0fs:"
                                     "\n%s" % (todo, timeout, self.stderr()))
            for p in list(todo):
                try:
                    socket.create_connection(("127.0.0.1", p),
                                             timeout=0.5).close()
                    todo.discard(p)
                except OSError:
                    pass
            if todo:
                # The process is starting up: poll the listeners again soon.
                time.sleep(0.02)

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close_clients(self):
        for c in self.clients:
            c.close()
        self.clients = []

    def stop(self, check=True):
        """SIGTERM; assert a clean exit (code 0) within STOP_T."""
        self.close_clients()
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(STOP_T)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                if check:
                    raise AssertionError("server ignored SIGTERM for %.0fs:"
                                         "\n%s" % (STOP_T, self.stderr()))
        if check:
            assert p.returncode == 0, "server exit code %s:\n%s" % (
                p.returncode, self.stderr())
        return p.returncode

    def restart(self):
        """Clean stop, then start again on the same data_dir (new ports)."""
        self.stop()
        return self.start()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        raise AssertionError("no VmRSS")

    def ticket(self, nick, age=30, **opts):
        """Mint a ticket with `salon ticket` (key in data_dir)."""
        args = [SALON_BIN, "ticket", "--config", self.config_path,
                "--nick", nick, "--age", str(age)]
        for k, v in opts.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        r = subprocess.run(args, capture_output=True, timeout=START_T,
                           cwd=self.dir)
        assert r.returncode == 0, "salon ticket failed (%d): %s" % (
            r.returncode, r.stderr.decode("utf-8", "replace"))
        lines = r.stdout.decode().strip().splitlines()
        assert len(lines) == 1, "salon ticket printed %r" % r.stdout
        return lines[0].strip()

    # -- clients

    def tcp(self, nick=None, caps=(), name=None, **kw):
        """A TCP client; registered as nick when nick is given."""
        c = TcpClient(self, name or nick or "tcp",
                      **{k: v for k, v in kw.items() if k in ("rcvbuf",)})
        self.clients.append(c)
        if nick:
            c.register(nick, caps=caps, **{k: v for k, v in kw.items()
                                           if k not in ("rcvbuf",)})
        return c

    def ws(self, nick=None, caps=(), name=None, protocol="text.ircv3.net",
           **kw):
        """A WebSocket client; registered as nick when nick is given."""
        if not self.http_port:
            import pytest
            pytest.skip("no WebSocket listener on this target")
        c = WsClient(self, name or nick or "ws", protocol=protocol,
                     rcvbuf=kw.pop("rcvbuf", None))
        self.clients.append(c)
        if nick:
            c.register(nick, caps=caps, **kw)
        return c

    def client(self, kind, nick=None, caps=(), name=None, **kw):
        """A client over transport kind ("tcp" or "ws"); registered as nick
        when nick is given. Lets one test body run over either transport."""
        if kind not in TRANSPORTS:
            raise ValueError("unknown transport %r" % (kind,))
        return getattr(self, kind)(nick, caps=caps, name=name, **kw)


class NgircdServer(Server):
    """Debian's ngircd standing in for salon (TCP only) to check the
    harness. Only plain-IRC settings are translated."""

    def write_config(self):
        self.irc_port = free_port()
        self.http_port = None
        self.config = merge_config(DEFAULTS, self.overrides)
        lim = self.config.get("limits", {})
        rooms = [s for s in self.config if s.startswith("room ")]
        with open(self.config_path, "w") as f:
            f.write("[Global]\nName = %s\nInfo = ngircd standing in\n"
                    "Listen = 127.0.0.1\nPorts = %d\nMotdPhrase = hello\n"
                    "PidFile = %s/ngircd.pid\n" % (
                        self.name, self.irc_port, self.dir))
            f.write("[Limits]\nMaxNickLength = 30\nMaxJoins = %s\n"
                    "PingTimeout = %s\nPongTimeout = %s\n"
                    "MaxConnectionsIP = %s\nMaxPenaltyTime = 0\n" % (
                        lim.get("max_rooms_per_user", "20"),
                        lim.get("ping_interval", "120"),
                        lim.get("ping_timeout", "60"),
                        lim.get("per_address", "1000")))
            f.write("[Options]\nDNS = no\nIdent = no\nPAM = no\n"
                    "OperCanUseMode = yes\n")
            for r in rooms:
                f.write("[Channel]\nName = %s\nTopic = %s\n" % (
                    r[5:], self.config[r].get("topic", "")))

    def cmdline(self):
        return ["ngircd", "-n", "-f", self.config_path]

    def ticket(self, nick, age=30, **opts):
        import pytest
        pytest.skip("tickets are salon-only")

    def ws(self, nick=None, caps=(), name=None, protocol="text.ircv3.net",
           **kw):
        """No WebSocket here: IRC-level tests get a TCP client instead."""
        return self.tcp(nick, caps=caps, name=name, **kw)

    def client(self, kind, nick=None, caps=(), name=None, **kw):
        return self.tcp(nick, caps=caps, name=name, **kw)


def make_server(config=None):
    cls = NgircdServer if TARGET == "ngircd" else Server
    return cls(config)


def salon_only(reason="salon-specific behaviour"):
    """Skip when running the suite against ngircd."""
    if TARGET != "salon":
        import pytest
        pytest.skip(reason)


def sync_all(*clients):
    """Sentinel across clients: each syncs in turn, so anything caused by an
    earlier command of any of them is pending on every one afterwards."""
    for c in clients:
        c.sync()


def allow_private(*clients):
    """PMPOLICY everyone on each client. salon holds a stranger's first
    private message until the recipient consents (docs/protocol.md, "Private
    messages need consent"); tests about delivering private messages opt
    out of that, the consent flow has tests of its own."""
    if TARGET != "salon":
        return
    for c in clients:
        c.send("PMPOLICY everyone")
        c.expect("NOTE", params=["PMPOLICY", "SET", "everyone", None])


# A public profile shown as the IRC real name (docs/protocol.md, "Profiles"):
# "<age band> <gender>[ <region>]", age band "?" with open registration.
PROFILE_RE = re.compile(r"(\?|18-24|25-34|35-49|50\+) "
                        r"(woman|man|other|unsaid)( \S+)?")

SERVER_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _module_fixture(start):
    """A module-scoped pytest fixture around the server start() returns,
    stopped cleanly (its log checked) and removed at the end."""
    import pytest

    @pytest.fixture(scope="module")
    def fx():
        s = start()
        yield s
        try:
            s.stop(check=True)
        finally:
            s.cleanup()
    return fx


def server_fixture(config=None):
    """A module-scoped pytest fixture running its own server with config
    (for a group of tests that share a non-default configuration)."""
    def start():
        s = make_server(config)
        s.start()
        return s
    return _module_fixture(start)


# ---------------------------------------------------------------- HTTP API, staff

import json  # noqa: E402  (used by the API helpers below only)

STAFF_PASSWORD = "correct horse battery staple"


def http_json(srv, method, path, body=None, headers=None, source=None,
              timeout=T, ctype="application/json"):
    """One request to srv's web listener with an optional body (JSON, or
    bytes sent as they are with Content-Type ctype), from an optional
    loopback source address. Returns (status, headers, doc): headers
    lower-cased, plus "set-cookie" as the list of every Set-Cookie value;
    doc the decoded JSON body (None when empty or not JSON)."""
    if body is None or isinstance(body, bytes):
        data = body or b""
    else:
        data = json.dumps(body).encode()
    head = "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % (method,
                                                                   path)
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    if body is not None:
        head += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype,
                                                                 len(data))
    s = socket.socket()
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", srv.http_port))
        s.sendall(head.encode() + b"\r\n" + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        raw_head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status, hdrs, body_b, _ = read_http_response(s, timeout, buf)
    finally:
        s.close()
    hdrs["set-cookie"] = [ln.split(":", 1)[1].strip()
                          for ln in raw_head.split("\r\n")[1:]
                          if ln.lower().startswith("set-cookie:")]
    try:
        doc = json.loads(body_b) if body_b else None
    except ValueError:
        doc = None
    return status, hdrs, doc


def cookie_value(hdrs, name):
    """The value a response set for cookie name (http_json headers), or
    None."""
    for c in hdrs.get("set-cookie", []):
        k, _, v = c.split(";", 1)[0].partition("=")
        if k.strip() == name:
            return v.strip()
    return None


def add_staff(srv, name="mod1", role="moderator", password=STAFF_PASSWORD):
    """`salon staff add` on srv's configuration (before start: accounts
    are read at start-up)."""
    r = subprocess.run([SALON_BIN, "staff", "add", name, "--role", role,
                        "--config", srv.config_path],
                       input=(password + "\n").encode(), capture_output=True,
                       timeout=START_T, cwd=srv.dir)
    assert r.returncode == 0, r.stderr


def start_with_staff(config=None, staff=(("mod1", "moderator"),)):
    """A started server whose data directory holds the given staff
    accounts ((name, role) pairs, password STAFF_PASSWORD)."""
    s = make_server(config)
    s.write_config()
    for name, role in staff:
        add_staff(s, name, role)
    # start() writes the configuration again with new ports; the data
    # directory, and so the accounts, stay.
    s.start()
    return s


def staff_server_fixture(config=None):
    """A module-scoped pytest fixture: a server with the staff account
    "mod1" (see start_with_staff), stopped cleanly at the end."""
    return _module_fixture(lambda: start_with_staff(config))


def staff_login(srv, name="mod1", password=STAFF_PASSWORD):
    """Log in on the dashboard API; returns the headers a staff request
    carries (session cookie and CSRF token)."""
    status, hdrs, doc = http_json(srv, "POST", "/api/v1/staff/login",
                                  {"name": name, "password": password})
    assert status == 200, (status, doc)
    return {"Cookie": "salon_staff=" + cookie_value(hdrs, "salon_staff"),
            "X-CSRF-Token": doc["csrf"]}


def staff_action(srv, staff, **fields):
    """POST /api/v1/mod/actions with fields; returns (status, doc)."""
    status, _, doc = http_json(srv, "POST", "/api/v1/mod/actions", fields,
                               headers=staff)
    return status, doc


def open_reports(srv, staff):
    """Every open report of the queue, flattened; each also carries its
    group's "reported" (session) and "reported_nick"."""
    status, _, doc = http_json(srv, "GET", "/api/v1/mod/reports",
                               headers=staff)
    assert status == 200, (status, doc)
    out = []
    for g in doc["groups"]:
        for r in g["reports"]:
            out.append(dict(r, reported=g.get("reported"),
                            reported_nick=g.get("reported_nick")))
    return out


def wait_until(fn, timeout=T, what="condition"):
    """Poll fn() until it returns something true, and return that; fail
    with `what` at the deadline. For state only visible by asking (the
    report queue, the HTTP API), not for IRC lines (use expect)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Timeout("timed out waiting for " + what)
        time.sleep(0.02)


def pow_has_bits(challenge, nonce, bits):
    """Whether SHA-256(challenge ":" nonce) starts with `bits` zero bits
    (docs/api.md, lockdown "challenge")."""
    d = hashlib.sha256(("%s:%s" % (challenge, nonce)).encode()).digest()
    return int.from_bytes(d, "big") >> (256 - bits) == 0


def pow_solve(challenge, bits):
    """The first decimal nonce from 0 that satisfies pow_has_bits."""
    for n in itertools.count():
        if pow_has_bits(challenge, n, bits):
            return str(n)


_ALPHA = "bcdfghjkmnpqrtvwz"


def uniq_alpha(prefix):
    """Like uniq, without digits or vowels: a nick that no name rule (ages,
    years, words) can read anything into."""
    n, out = next(_counter) * 65536 + int.from_bytes(os.urandom(2), "big"), ""
    while n:
        n, d = divmod(n, len(_ALPHA))
        out += _ALPHA[d]
    return prefix + out
