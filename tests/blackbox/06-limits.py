"""06 limits: flood back-pressure, per-address connection limit, slow reader
(SendQ exceeded) with bounded server memory; each over TCP and WebSocket
(the flooder, the slow reader; the per-address count mixes both)."""
import time

from salonlib import (SCALE, T, Closed, Line, Timeout, other_transport,
                      salon_only, uniq)


def test_flood_is_delayed_in_order_not_disconnected(server_factory,
                                                    transport):
    salon_only("salon's [flood] settings")
    s = server_factory({"flood": {"rate": "5", "burst": "5"}})
    r = "#" + uniq("flood")
    # The flooder on `transport`, the watcher on the other one.
    a = s.client(transport, name="flooder")
    b = s.client(other_transport(transport), name="watcher")
    other = s.tcp()
    a.register(uniq("Flooder"))
    b.register(uniq("Watcher"))
    other.register(uniq("Other"))
    a.join(r, timeout=2 * T)
    b.join(r, timeout=2 * T)
    n = 30
    burst = ["PRIVMSG %s :flood %02d" % (r, i) for i in range(n)]
    t0 = time.monotonic()
    # All at once: one TCP write, or one run of WebSocket frames.
    a.send_many(burst + ["PING :after-flood"])
    # Other clients are served while the flooder is held back.
    other.sync()
    ln = a.expect("PONG", pred=lambda l: l.params[-1] == "after-flood",
                  timeout=n / 5 * 3 + 6 * T)
    elapsed = ln.time - t0
    # Each command costs 1000/rate = 200 ms and only `burst` may run ahead
    # of the clock: the PONG cannot come before about (31 - 5) * 0.2 s.
    assert elapsed >= 4.0, "flood not throttled: PONG after %.2fs" % elapsed
    # Everything arrives, in order, and the flooder is still connected.
    got = [b.expect("PRIVMSG", params=[r, "flood %02d" % i])
           for i in range(n)]
    order = [b.history.index(x) for x in got]
    assert order == sorted(order), "flood delivered out of order"
    a.sync(timeout=3 * T)
    assert not a.closed


def test_per_address_connection_limit(server_factory):
    salon_only("salon's per_address")
    s = server_factory({"limits": {"per_address": "3"}})
    cs = [s.tcp(uniq("Pa%d" % i)) for i in range(3)]
    extra = s.tcp(name="extra")
    ln = extra.expect("ERROR")
    assert ln.params == ["Closing Link: 127.0.0.1 (Too many connections "
                         "from your address)"], ln.raw
    extra.expect_closed()
    # The limit counts live connections: after one leaves, a new one fits.
    cs[0].send("QUIT")
    cs[0].expect_closed()
    deadline = time.monotonic() + T
    while True:
        c = s.tcp(name="retry")
        try:
            c.register(uniq("Pnew"))
            break
        except (Closed, Timeout):
            c.close()
            if time.monotonic() > deadline:
                raise
    for x in cs[1:]:
        x.sync()


def register_retry(s, kind, prefix):
    """A new registered client once a slot has been freed: the server may
    count the departed connection until its close is fully processed."""
    deadline = time.monotonic() + T
    while True:
        c = s.client(kind, name="retry-" + kind)
        try:
            c.register(uniq(prefix))
            return c
        except (Closed, Timeout):
            c.close()
            if time.monotonic() > deadline:
                raise


def expect_refused(c):
    ln = c.expect("ERROR")
    assert ln.params == ["Closing Link: 127.0.0.1 (Too many connections "
                         "from your address)"], (c.name, ln.raw)
    c.expect_closed()


def test_per_address_limit_counts_tcp_and_ws(server_factory):
    salon_only("salon's per_address")
    # One count per address across both listeners: TCP and WebSocket
    # connections fill the same quota.
    s = server_factory({"limits": {"per_address": "3"}})
    t1 = s.tcp(uniq("Mt"))
    w1 = s.ws(uniq("Mw"))
    t2 = s.tcp(uniq("Mt"))
    expect_refused(s.ws(name="extra-ws"))
    expect_refused(s.tcp(name="extra-tcp"))
    # A WebSocket leaves: its slot takes a TCP connection, after which a
    # WebSocket is refused again.
    w1.send("QUIT")
    w1.expect_closed()
    t3 = register_retry(s, "tcp", "Mt")
    expect_refused(s.ws(name="extra-ws-2"))
    # A TCP connection leaves: its slot takes a WebSocket.
    t1.send("QUIT")
    t1.expect_closed()
    w2 = register_retry(s, "ws", "Mw")
    expect_refused(s.tcp(name="extra-tcp-2"))
    for x in (t2, t3, w2):
        x.sync()


def test_slow_reader_disconnected_sendq_exceeded(server_factory, transport):
    salon_only("salon's sendq")
    # sendq well above what one read of the flooder's input fans out in a
    # single loop turn, so that only the reader that never reads falls
    # behind.
    s = server_factory({"limits": {"sendq": "131072"},
                        "flood": {"rate": "100000", "burst": "100000"}})
    r = "#" + uniq("slow")
    # The slow reader on `transport`, the observer on the other one.
    slow = s.client(transport, rcvbuf=4096, name="slow")
    slow.register(uniq("Slow"))
    slow.join(r)
    obs = s.client(other_transport(transport), name="obs")
    obs.register(uniq("Obs"))
    obs.join(r)
    fl = s.tcp()
    fl.register(uniq("Fl"))
    fl.join(r)
    obs.drain()
    rss0 = s.rss_kb()
    # `slow` reads nothing from now on. Flood the room until the server
    # drops it; `obs` keeps reading so that only `slow` falls behind.
    text = "x" * 400
    batch = "".join("PRIVMSG %s :%04d %s\r\n" % (r, i, text)
                    for i in range(40)).encode()
    sent, quit_line = 0, None
    deadline = time.monotonic() + 20 * T
    while quit_line is None:
        assert time.monotonic() < deadline, \
            "slow reader not dropped after %d bytes" % sent
        assert sent < 64 << 20, "slow reader not dropped after 64 MiB"
        fl.send_raw(batch, timeout=4 * T)
        sent += len(batch)
        # Read all that `obs` has, parsing only what could be the QUIT.
        while True:
            raws = obs._read_some(0.002)
            if not raws:
                break
            for raw in raws:
                if b" QUIT " in raw:
                    ln = Line(raw)
                    if ln.command == "QUIT" and ln.nick == slow.nick:
                        quit_line = ln
    assert quit_line.params == ["SendQ exceeded"], quit_line.raw
    # The server is still responsive and its memory did not follow the flood.
    fl.sync(timeout=4 * T)
    obs.sync(timeout=4 * T)
    fresh = s.ws()
    fresh.register(uniq("Fresh"))
    fresh.join(r)
    grown_mb = (s.rss_kb() - rss0) / 1024
    limit = 48 * (4 if SCALE > 1 else 1)
    assert grown_mb < limit, "RSS grew by %.1f MiB (sent %.1f MiB)" % (
        grown_mb, sent / 1048576)
