"""The client against a server process: round trips, batches, errors, threads."""

import sys
import threading
import time
from pathlib import Path

import pytest

import proglog

from conftest import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "e2e"))
import ports  # noqa: E402  (loopback ports outside the ephemeral range)


def dead_address() -> str:
    """An address nobody listens on (a test may start a server there later)."""
    return f"127.0.0.1:{ports.free_port()}"


def test_produce_then_consume_round_trips(client: proglog.Client) -> None:
    offset = client.produce(b"hello")
    record = client.consume(offset)
    assert record == proglog.Record(b"hello", offset)


def test_produce_many_returns_dense_offsets_in_order(client: proglog.Client) -> None:
    values = [bytes([65 + i % 26]) * (1 + i % 50) for i in range(300)]
    offsets = client.produce_many(v for v in values)  # any iterable
    assert offsets == list(range(offsets[0], offsets[0] + len(values)))
    assert [client.consume(o).value for o in offsets[::37]] == values[::37]


def test_produce_many_of_nothing_is_empty(client: proglog.Client) -> None:
    assert client.produce_many([]) == []


def test_consume_past_the_end_raises_offset_out_of_range(client: proglog.Client) -> None:
    offset = client.produce(b"x")
    with pytest.raises(proglog.OffsetOutOfRange):
        client.consume(offset + 1)


def test_bad_arguments_raise_type_errors(client: proglog.Client) -> None:
    with pytest.raises(TypeError, match="value must be bytes, not str"):
        client.produce("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values\[1\] must be bytes, not int"):
        client.produce_many([b"ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="offset must be int"):
        client.consume("0")  # type: ignore[arg-type]
    with pytest.raises(proglog.InvalidArgument):
        client.consume(-1)


def test_oversized_value_is_message_too_large_and_loses_nothing(client: proglog.Client) -> None:
    kept = client.produce(b"kept")
    with pytest.raises(proglog.MessageTooLarge):
        client.produce(b"x" * (ServerProcess.MAX_RECORD_BYTES + 1))
    assert client.consume(kept).value == b"kept"


def test_servers_lists_the_server(server: ServerProcess, client: proglog.Client) -> None:
    servers = client.servers()
    assert len(servers) == 1
    assert servers[0].rpc_addr == server.address
    assert servers[0].is_leader


def test_unreachable_server_raises_retryable_unavailable() -> None:
    with proglog.Client(dead_address(), timeout=5.0) as client:
        with pytest.raises(proglog.Unavailable) as info:
            client.produce(b"x")
    assert info.value.retryable


def test_fails_over_to_the_next_address(server: ServerProcess) -> None:
    assert server.address is not None
    with proglog.Client([dead_address(), server.address]) as client:
        offset = client.produce(b"second")
        assert client.consume(offset).value == b"second"


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_a_server_that_comes_up_during_a_call_is_reached(tmp_path: Path) -> None:
    # The server runs in its own process: in-process, gRPC's server threads
    # would drive the client's reconnection too and hide a client that waits
    # for gRPC's idle poller (every 5 s) to notice the server is back.
    address = dead_address()
    with proglog.Client(address, timeout=10.0) as client:
        # Leaves the channel in reconnect backoff. Whether the retries end with
        # the last attempt's Unavailable or with the deadline depends on timing.
        with pytest.raises((proglog.Unavailable, proglog.Timeout)):
            client.produce(b"early", timeout=0.3)
        started = threading.Event()
        servers: list[ServerProcess] = []

        def start_server() -> None:
            time.sleep(0.3)
            servers.append(ServerProcess(tmp_path / "late", rpc_port=port_of(address)))
            started.set()

        starter = threading.Thread(target=start_server)
        starter.start()
        try:
            # Ten attempts with backoff between them span about four seconds:
            # enough, if each looks at the server that is now up.
            offset = client.produce(b"late")
            # The server answers as soon as it listens, which can be before
            # its starter has seen it say "serving".
            starter.join()
            assert started.is_set()
            assert client.consume(offset).value == b"late"
        finally:
            starter.join()
            for server in servers:
                server.stop()


def test_another_clients_failed_connection_is_not_inherited(tmp_path: Path) -> None:
    address = dead_address()
    with proglog.Client(address) as failed:
        with pytest.raises(proglog.Unavailable):
            failed.produce(b"x", timeout=0.3)
        server = ServerProcess(tmp_path / "late", rpc_port=port_of(address))
        try:
            # One attempt only: it must connect, not report the other client's
            # "connection refused" while that client's channel backs off.
            with proglog.Client(address, max_attempts=1, timeout=5.0) as fresh:
                assert fresh.consume(fresh.produce(b"fresh")).value == b"fresh"
        finally:
            server.stop()


def test_closed_client_raises_closed(server: ServerProcess) -> None:
    assert server.address is not None
    client = proglog.Client([server.address])
    client.close()
    with pytest.raises(proglog.Closed):
        client.produce(b"x")


def test_bad_options_are_rejected() -> None:
    with pytest.raises(proglog.InvalidArgument):
        proglog.Client([])
    with pytest.raises(proglog.InvalidArgument):
        proglog.Client(["127.0.0.1:1"], read_from="random")
    with pytest.raises(TypeError):
        proglog.Client([b"127.0.0.1:1"])  # type: ignore[list-item]
    with pytest.raises(proglog.NotFound):
        proglog.Client(["127.0.0.1:1"], ca_file="/nonexistent/ca.pem")


def test_many_threads_share_one_client(client: proglog.Client) -> None:
    errors: list[str] = []

    def work(thread: int) -> None:
        for i in range(40):
            value = f"{thread}/{i}".encode()
            offset = client.produce(value)
            if client.consume(offset).value != value:
                errors.append(f"{thread}/{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert client.consume(8 * 40 - 1).offset == 8 * 40 - 1
