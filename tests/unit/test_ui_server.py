"""The process tree `rayprune ui` runs, with real processes standing in for MLflow's (which takes
tens of seconds to start; tests/integration/test_ui_signals.py runs the real one): stopped as a
whole, strays in sessions of their own and processes that ignore SIGTERM included; a server that
ends before it answered is a failure, exit code 0 included; a taken port is refused first."""

import socket
import sys
import textwrap
import time

import pytest

from rayprune.cli import _wait_for_ui
from rayprune.errors import CommandError
from rayprune.store.ui_server import UiServer, check_port_free
from tests.integration.processes import free_port, kill_tree, process_tree, running

pytestmark = pytest.mark.slow  # process trees of stand-in servers

# A server's tree: a worker in its group that ignores SIGTERM, and a job process in a session
# of its own (as MLflow's local job executor starts them), all waiting to be stopped.
TREE = textwrap.dedent("""
    import signal, subprocess, sys, time
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    subprocess.Popen([sys.executable, "-c", stubborn])
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    print("a traceback while it stops", flush=True)
    time.sleep(600)
""")


def grown(root: int, size: int) -> dict[int, int]:
    deadline = time.monotonic() + 60
    while len(tree := process_tree(root)) < size:
        assert time.monotonic() < deadline, tree
        time.sleep(0.2)
    return tree


def test_stop_ends_the_whole_tree_strays_and_stubborn_ones_included(capfd):
    server = UiServer([sys.executable, "-c", TREE])
    tree = {}
    try:
        tree = grown(server.proc.pid, 3)
        start = time.monotonic()
        server.stop(grace=2)
        took = time.monotonic() - start
        assert running(tree) == {} and server.proc.returncode is not None
        assert took < 10, took
    finally:
        kill_tree(tree)
    assert "traceback" not in capfd.readouterr().out  # said while starting: held, then dropped


def test_a_server_that_ends_before_it_answered_is_a_failure_even_with_code_0():
    port = free_port()
    code = "print('ERROR:    [Errno 98] Address already in use')"  # as MLflow, exit code 0
    server = UiServer([sys.executable, "-c", code])
    try:
        with pytest.raises(CommandError) as raised:
            _wait_for_ui(server, f"http://127.0.0.1:{port}/health", port)
    finally:
        server.stop(grace=2)
    message = str(raised.value)
    assert f"port {port} exited (code 0) before it answered" in message
    assert message.endswith("Address already in use")


def test_a_port_something_listens_on_is_refused_naming_it_and_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"port {port} on 127.0.0.1 is in use.*--port"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # closed: free again
    with pytest.raises(CommandError, match="cannot serve on no-such-host.invalid"):
        check_port_free("no-such-host.invalid", port)
