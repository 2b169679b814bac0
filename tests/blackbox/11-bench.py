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


def test_loadgen_max_mode_climbs_then_retries_a_failing_rate(tools):
    port = free_port()
    floor = subprocess.Popen([os.path.join(tools, "floor"), "--listen",
                              "127.0.0.1:%d" % port],
                             stderr=subprocess.PIPE)
    try:
        target = "127.0.0.1:%d" % port
        common = ["--mode", "max", "--clients", "40", "--rooms", "2",
                  "--senders", "4", "--duration", "1",
                  "--drain", str(int(5 * SCALE))]
        # Every step holds (a bound no stall of a shared machine reaches):
        # 50, 100, 200 msg/s, then the ceiling.
        r = loadgen(tools, target, *common, "--rate", "50", "--step", "2",
                    "--rate-max", "200", "--p99-max", "2000", pid=floor.pid)
        assert (r["steps"], r["max_rate"], r["stop"]) == ("3", "200", "rate_max")
        assert r["deliveries_per_s"] != "0"
        # No step can hold a 1 ns p99: the first rate fails, is tried
        # again once the server is idle, and the search ends there.
        r = loadgen(tools, target, *common, "--rate", "50", "--step", "2",
                    "--p99-max", "0.000001", "--step-tries", "2",
                    pid=floor.pid)
        assert (r["steps"], r["max_rate"], r["stop"]) == ("2", "0", "p99")
        assert r["fail_rate"] == "50" and r["fail_lost"] == "0"
        assert floor.poll() is None, "floor exited: %s" % floor.stderr.read()
    finally:
        floor.kill()
        floor.wait()


def table(tmp_path, lines, servers):
    path = tmp_path / "results.txt"
    path.write_text("".join(line + "\n" for line in lines))
    p = subprocess.run(["python3", os.path.join(BENCH, "table.py"),
                        "--servers", servers, str(path)],
                       capture_output=True, text=True, timeout=60, check=True)
    rows = {}
    for ln in p.stdout.splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) > 3 and cells[0].startswith("("):
            rows[(cells[0][:3], cells[1])] = cells[2:]
    return rows, p.stdout


def test_table_medians_ratios_and_the_floor(tmp_path):
    """bench/table.py: medians over repetitions, lost copies summed,
    salon/peer ratios of the medians, and the floor never the best peer."""
    lines = []
    for rep, (s_p99, i_p99, f_p99) in enumerate(
            [(1.0, 2.0, 0.5), (3.0, 4.0, 0.5), (2.0, 9.0, 0.5)], 1):
        for server, p99, lost in (("salon", s_p99, 0), ("inspircd", i_p99, 2),
                                  ("floor", f_p99, 0)):
            lines.append("rep=%d server=%s scenario=A p99_ms=%s lost=%d "
                         "loadgen_rc=0 server_alive=1" % (rep, server, p99, lost))
    lines.append("rep=1 server=salon scenario=B max_rate=100 loadgen_rc=1 "
                 "server_alive=0 registered=5")
    rows, out = table(tmp_path, lines, "salon,inspircd,floor")
    # Columns: n, salon, inspircd, floor, salon/inspircd, salon/floor,
    # salon/best peer.
    assert rows[("(a)", "p99 ms ↓")] == ["3", "2.00", "4.00", "0.500", "0.50",
                                         "4.00", "0.50"]
    assert rows[("(a)", "lost deliveries (sum)")][:4] == ["3", "0", "6", "0"]
    # The run that did not finish cleanly is listed after the table.
    assert "rep 1 salon B: loadgen_rc=1 server_alive=0" in out
