"""11 bench: the benchmark's own tools still build and still measure what
they claim (docs/benchmarks.md). bench/loadgen registers a crowd, fans
messages out through salon over TCP and WebSocket, and counts every copy;
bench/floor, the reference relay, delivers every copy too. Small crowds and
short runs: these are checks that the measuring stick works, not
benchmarks (no timing is asserted)."""
import os
import subprocess

import pytest

from salonlib import REPO, SCALE, free_port, salon_only

BENCH = os.path.join(REPO, "bench")

# Raised like bench/run.sh's bench configuration: the crowd comes from a
# few loopback addresses and posts faster than a person.
CROWD_CONFIG = {
    "rooms": {"user_rooms": "true"},
    "limits": {"per_address": "1000", "max_connections": "2000"},
}


@pytest.fixture(scope="module")
def tools():
    subprocess.run(["make", "-s", "-C", BENCH, "loadgen", "floor"],
                   check=True, timeout=300)
    return BENCH


def loadgen(tools, server, *args, pid=None):
    """Run bench/loadgen; return its RESULT fields (all strings)."""
    cmd = [os.path.join(tools, "loadgen"), "--quiet", "--server", server,
           "--addrs", "4", "--setup-timeout", str(int(60 * SCALE))]
    if pid:
        cmd += ["--server-pid", str(pid)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True,
                       timeout=120 * SCALE)
    res = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert p.returncode == 0 and res, "loadgen failed (%d):\n%s\n%s" % (
        p.returncode, p.stdout, p.stderr)
    return dict(f.split("=", 1) for f in res[-1].split()[1:])


def assert_every_copy(r, clients, rooms):
    assert r["registered"] == str(clients) and r["failed"] == "0"
    # Each message reaches every other member of its room, exactly once.
    members = clients // rooms
    assert int(r["sent"]) > 0
    assert int(r["expected"]) == int(r["sent"]) * (members - 1)
    assert r["delivered"] == r["expected"]
    assert r["lost"] == "0" and r["dup"] == "0"


@pytest.mark.parametrize("kind", ["tcp", "ws"])
def test_loadgen_counts_every_copy_through_salon(server_factory, tools, kind):
    salon_only("bench/run.sh's salon configuration")
    s = server_factory(CROWD_CONFIG)
    target = ("127.0.0.1:%d" % s.irc_port if kind == "tcp"
              else "ws://127.0.0.1:%d/irc" % s.http_port)
    r = loadgen(tools, target, "--clients", "120", "--rooms", "3",
                "--senders", "6", "--rate", "30", "--duration", "2",
                "--drain", str(int(10 * SCALE)), pid=s.proc.pid)
    assert r["transport"] == kind
    assert_every_copy(r, 120, 3)
    # The server's CPU and memory come from /proc/PID.
    assert float(r["server_cpu_s"]) >= 0 and int(r["server_rss_after_kb"]) > 0


def test_loadgen_idle_mode_holds_registered_connections(server_factory,
                                                        tools):
    salon_only("bench/run.sh's salon configuration")
    s = server_factory(CROWD_CONFIG)
    r = loadgen(tools, "127.0.0.1:%d" % s.irc_port, "--mode", "idle",
                "--clients", "200", "--hold", "1", pid=s.proc.pid)
    assert r["registered"] == "200" and r["failed"] == "0"
    # None closed during the hold; the RSS growth was sampled.
    assert r["dropped"] == "0" and int(r["rss_after_kb"]) > 0


@pytest.mark.parametrize("write", ["uring", "send"])
def test_floor_relays_every_copy(tools, write):
    port = free_port()
    floor = subprocess.Popen([os.path.join(tools, "floor"), "--listen",
                              "127.0.0.1:%d" % port, "--write", write],
                             stderr=subprocess.PIPE)
    try:
        r = loadgen(tools, "127.0.0.1:%d" % port, "--clients", "300",
                    "--rooms", "1", "--senders", "3", "--rate", "10",
                    "--duration", "2", "--drain", str(int(10 * SCALE)))
        assert_every_copy(r, 300, 1)
        assert floor.poll() is None, "floor exited: %s" % floor.stderr.read()
    finally:
        floor.kill()
        floor.wait()
