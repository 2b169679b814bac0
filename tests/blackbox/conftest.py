"""Fixtures: a salon server per test module (config from the module's
SERVER_CONFIG), fresh servers for tests that need their own config, client
clean-up after every test, and the client transport a test runs over. See
salonlib.py for the client API."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import salonlib  # noqa: E402


def _start(config):
    s = salonlib.make_server(config)
    s.start()
    return s


@pytest.fixture(scope="module")
def module_server(request):
    """One server for the module; a clean SIGTERM exit (code 0) is asserted
    when the module is done."""
    s = _start(getattr(request.module, "SERVER_CONFIG", None))
    yield s
    try:
        s.stop(check=True)
    finally:
        s.cleanup()


@pytest.fixture
def srv(module_server):
    """The module's server, with this test's clients closed afterwards. A
    server that died during the test fails that test (with its stderr) and
    is restarted for the next one."""
    s = module_server
    if not s.alive():
        s.proc = None
        s.start()
    yield s
    s.close_clients()
    if not s.alive():
        rc = s.proc.returncode
        err = s.stderr()
        s.proc = None
        pytest.fail("server died during the test (exit %s):\n%s" % (rc, err))


@pytest.fixture
def server_factory():
    """start(config) → a fresh server; each is stopped at the end of the test
    with a clean exit asserted."""
    started = []

    def start(config=None):
        s = _start(config)
        started.append(s)
        return s

    yield start
    errors = []
    for s in started:
        try:
            s.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
        finally:
            s.cleanup()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture(params=salonlib.TRANSPORTS)
def transport(request):
    """"tcp" or "ws": a test taking this runs once over each transport
    (srv.client(transport, ...) makes the client). Against ngircd there is
    no WebSocket, so the "ws" run would only repeat the "tcp" one: skipped."""
    if request.param == "ws" and salonlib.TARGET != "salon":
        pytest.skip("no WebSocket on this target")
    return request.param
