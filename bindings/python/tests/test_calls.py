"""Per-call deadlines, Ctrl-C during a blocking call, unknown outcomes, the
client's options and the error codes, which come from the C library."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest

import proglog
from proglog import _proglog

from conftest import ServerProcess, SilentServer, poll


def test_call_timeout_overrides_the_clients(silent: SilentServer) -> None:
    with proglog.Client(silent.address, timeout=None) as client:
        with pytest.raises(proglog.Timeout) as info:
            client.produce(b"x", timeout=0.3)
        assert info.value.retryable
        with pytest.raises(proglog.Timeout):
            client.consume(0, timeout=0.3)
        with pytest.raises(proglog.Timeout):
            client.produce_many([b"a", b"b"], timeout=0.3)
        with pytest.raises(proglog.Timeout):
            client.servers(timeout=0.3)


def test_client_timeout_bounds_every_call(silent: SilentServer) -> None:
    with proglog.Client(silent.address, timeout=0.3) as client:
        with pytest.raises(proglog.Timeout):
            client.servers()


def test_produce_to_a_frozen_server_times_out_with_outcome_unknown(
        server: ServerProcess, client: proglog.Client) -> None:
    client.produce(b"before")  # connected, and the server's size limit learned
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(proglog.Timeout) as produced:
            client.produce(b"maybe", timeout=0.5)
        with pytest.raises(proglog.Timeout) as consumed:
            client.consume(0, timeout=0.5)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert produced.value.outcome_unknown  # the request reached the server
    assert not consumed.value.outcome_unknown  # a read has no outcome to lose
    # Whether the thawed server appended b"maybe" is up to it (the deadline passed
    # on the way); the client carries on either way.
    offset = client.produce(b"after")
    assert client.consume(offset).value == b"after"


def test_ordinary_errors_have_a_known_outcome(client: proglog.Client) -> None:
    with pytest.raises(proglog.OffsetOutOfRange) as info:
        client.consume(10)
    assert not info.value.outcome_unknown


# argv: the server's address, then how the program treats signals: "plain" (Python's
# own SIGINT handler), "wakeup-fd" (the program owns the wakeup fd, as an asyncio loop
# does) or "own-handler" (a SIGINT handler of the program's that raises).
_BLOCKED_PRODUCE = """
import os, signal, sys, proglog
if sys.argv[2] == "wakeup-fd":
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
if sys.argv[2] == "own-handler":
    def interrupt(signum, frame):
        raise KeyboardInterrupt("from the program's handler")
    signal.signal(signal.SIGINT, interrupt)
client = proglog.Client([sys.argv[1]])
print("producing", flush=True)
try:
    client.produce(b"never answered", timeout=300)
except KeyboardInterrupt:
    print("interrupted", flush=True)
client.close()
del client  # frees the C client: no call may still run on it
if sys.argv[2] == "wakeup-fd":
    assert signal.set_wakeup_fd(-1) == write_end  # left as the program set it
print("closed", flush=True)
"""


@pytest.mark.parametrize("signals", ["plain", "wakeup-fd", "own-handler"])
def test_ctrl_c_cancels_a_blocked_produce(silent: SilentServer, signals: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKED_PRODUCE, silent.address, signals],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "producing"
        poll(lambda: silent.accepted, 30, "the client to connect")  # the call is under way
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        # Far below the call's 300 s deadline: only a cancelled call ends in time.
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"{signals}: KeyboardInterrupt and exit {time.monotonic() - sent:.3f}s after SIGINT")
    assert proc.returncode == 0, err
    assert out.split() == ["interrupted", "closed"]


_HANDLER_THAT_RETURNS = """
import signal, sys, proglog
signal.signal(signal.SIGINT, lambda *_: print("handled", flush=True))
client = proglog.Client([sys.argv[1]])
print("producing", flush=True)
try:
    client.produce(b"never answered", timeout=float(sys.argv[2]))
except proglog.Timeout:
    print("timeout", flush=True)
"""


def test_a_sigint_handler_that_returns_leaves_the_call_running(silent: SilentServer) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HANDLER_THAT_RETURNS, silent.address, "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "producing"
        poll(lambda: silent.accepted, 30, "the client to connect")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The handler ran during the call, which then went on to its deadline.
    assert proc.returncode == 0, err
    assert out.split() == ["handled", "timeout"]


def test_error_codes_are_the_c_librarys(client: proglog.Client) -> None:
    expected = {
        "EINVAL": proglog.InvalidArgument, "EOUTOFRANGE": proglog.OffsetOutOfRange,
        "ENOTLEADER": proglog.NotLeader, "EUNAVAILABLE": proglog.Unavailable,
        "EPERM": proglog.PermissionDenied, "EUNAUTHENTICATED": proglog.Unauthenticated,
        "ETIMEOUT": proglog.Timeout, "ECANCELLED": proglog.Cancelled,
        "ECLOSED": proglog.Closed, "ENOTFOUND": proglog.NotFound,
        "EIO": proglog.StorageError, "ENOMEM": proglog.OutOfMemory,
        "EINTERNAL": proglog.Internal, "ETOOLARGE": proglog.MessageTooLarge,
    }
    for name in expected:
        code = getattr(_proglog, name)
        assert code < 0 and _proglog.code_name(code) == "PROGLOG_" + name
    with pytest.raises(proglog.OffsetOutOfRange) as info:
        client.consume(10)
    assert info.value.code == _proglog.EOUTOFRANGE
    client.close()
    with pytest.raises(proglog.Closed) as closed:
        client.produce(b"x")
    assert closed.value.code == _proglog.ECLOSED


def test_client_options_are_checked() -> None:
    address = "127.0.0.1:1"
    with pytest.raises(proglog.InvalidArgument, match="read_from"):
        proglog.Client(address, read_from="random")
    with pytest.raises(proglog.InvalidArgument, match="max_attempts"):
        proglog.Client(address, max_attempts=0)
    with pytest.raises(TypeError, match="max_attempts"):
        proglog.Client(address, max_attempts=2.5)  # type: ignore[arg-type]
    with pytest.raises(proglog.InvalidArgument, match="refresh_interval"):
        proglog.Client(address, refresh_interval=0)
    with pytest.raises(proglog.InvalidArgument, match=r"backoff\[0\]"):
        proglog.Client(address, backoff=(-1, 1))
    with pytest.raises(TypeError, match="backoff"):
        proglog.Client(address, backoff=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout"):
        proglog.Client(address, timeout="1s")  # type: ignore[arg-type]
    with proglog.Client(address) as client:
        with pytest.raises(proglog.InvalidArgument, match="timeout"):
            client.produce(b"x", timeout=0)


def test_every_option_reaches_a_working_client(server: ServerProcess) -> None:
    assert server.address is not None
    with proglog.Client([server.address], timeout=5, read_from="leader",
                        refresh_interval=math.inf, max_attempts=3,
                        backoff=(0.01, None)) as client:
        offset = client.produce(b"configured")
        assert client.consume(offset, timeout=None).value == b"configured"
    with proglog.Client([server.address], read_from="followers", refresh_interval=0.5,
                        backoff=(None, 0.2)) as client:
        assert client.consume(offset).value == b"configured"
