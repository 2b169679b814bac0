"""06 limits: flood back-pressure, per-address connection limit, slow reader
(SendQ exceeded) with bounded server memory."""
import time

from salonlib import SCALE, T, Closed, Line, Timeout, salon_only, uniq


def test_flood_is_delayed_in_order_not_disconnected(server_factory):
    salon_only("salon's [flood] settings")
    s = server_factory({"flood": {"rate": "5", "burst": "5"}})
    r = "#" + uniq("flood")
    a, b, other = s.tcp(), s.ws(), s.tcp()
    a.register(uniq("Flooder"))
    b.register(uniq("Watcher"))
    other.register(uniq("Other"))
    a.join(r, timeout=2 * T)
    b.join(r, timeout=2 * T)
    n = 30
    burst = "".join("PRIVMSG %s :flood %02d\r\n" % (r, i) for i in range(n))
    t0 = time.monotonic()
    a.send_raw((burst + "PING :after-flood\r\n").encode())
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


def test_slow_reader_disconnected_sendq_exceeded(server_factory):
    salon_only("salon's sendq")
    # sendq well above what one read of the flooder's input fans out in a
    # single loop turn, so that only the reader that never reads falls
    # behind.
    s = server_factory({"limits": {"sendq": "131072"},
                        "flood": {"rate": "100000", "burst": "100000"}})
    r = "#" + uniq("slow")
    slow = s.tcp(rcvbuf=4096, name="slow")
    slow.register(uniq("Slow"))
    slow.join(r)
    obs = s.tcp()
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
