"""proglog.aio against a real server: calls, concurrency, deadlines,
cancellation (no C call left running), subscriptions and closing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Callable

import pytest
import pytest_asyncio

import proglog
import proglog.aio

from conftest import ServerProcess, SilentServer

pytestmark = pytest.mark.asyncio

# Far beyond what a cancelled call takes to end: only a hang reaches it.
HANG_GUARD = 60.0


async def eventually(condition: Callable[[], object], what: str) -> None:
    """Returns once condition() is true; fails after HANG_GUARD seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def ends(task: asyncio.Task[Any]) -> None:
    """Waits for `task` to end, failing (not hanging) if it does not."""
    await asyncio.wait({task}, timeout=HANG_GUARD)
    assert task.done(), "the task is still running"


@pytest_asyncio.fixture
async def client(server: ServerProcess) -> AsyncIterator[proglog.aio.Client]:
    """Here, an asyncio client of the server (instead of conftest's)."""
    assert server.address is not None
    async with proglog.aio.Client([server.address], timeout=10.0) as client:
        yield client


def running(client: proglog.aio.Client) -> int:
    """The client's calls under way in C (counted by the extension)."""
    return client._handle.calls_running()


async def test_produce_consume_servers_produce_many(client: proglog.aio.Client) -> None:
    offset = await client.produce(b"hello")
    record = await client.consume(offset)
    assert record == proglog.Record(b"hello", offset)
    offsets = await client.produce_many([b"a", bytearray(b"b"), memoryview(b"c")])
    assert offsets == [offset + 1, offset + 2, offset + 3]
    assert (await client.consume(offsets[-1], timeout=None)).value == b"c"
    servers = await client.servers()
    assert [s.is_leader for s in servers] == [True]
    with pytest.raises(proglog.OffsetOutOfRange):
        await client.consume(100)
    with pytest.raises(proglog.MessageTooLarge):
        await client.produce_many([b"ok", b"x" * (ServerProcess.MAX_RECORD_BYTES + 1)])
    with pytest.raises(TypeError):
        await client.produce("text")  # type: ignore[arg-type]


@pytest.mark.parametrize("max_concurrency", [2, 16])
async def test_concurrent_produces_get_distinct_dense_offsets(
        server: ServerProcess, max_concurrency: int) -> None:
    assert server.address is not None
    async with proglog.aio.Client([server.address], timeout=30.0,
                                  max_concurrency=max_concurrency) as client:
        values = [f"value {i}".encode() for i in range(100)]
        offsets = await asyncio.gather(*(client.produce(v) for v in values))
        assert sorted(offsets) == list(range(min(offsets), min(offsets) + len(values)))
        records = await asyncio.gather(*(client.consume(o) for o in offsets))
        assert [r.value for r in records] == values


async def test_per_call_timeout_against_a_silent_server(silent: SilentServer) -> None:
    async with proglog.aio.Client(silent.address, timeout=None) as client:
        with pytest.raises(proglog.Timeout) as info:
            await client.produce(b"x", timeout=0.3)
        assert info.value.retryable
        with pytest.raises(proglog.Timeout):
            await client.consume(0, timeout=0.3)
        with pytest.raises(proglog.Timeout):
            await client.produce_many([b"a", b"b"], timeout=0.3)
        with pytest.raises(proglog.Timeout):
            await client.servers(timeout=0.3)
    async with proglog.aio.Client(silent.address, timeout=0.3) as client:
        with pytest.raises(proglog.Timeout):
            await client.servers()  # the client's deadline


CALLS: dict[str, Callable[[proglog.aio.Client], Coroutine[Any, Any, object]]] = {
    "produce": lambda c: c.produce(b"never answered", timeout=300),
    "produce_many": lambda c: c.produce_many([b"a", b"b"], timeout=300),
    "consume": lambda c: c.consume(0, timeout=300),
    "servers": lambda c: c.servers(timeout=300),
}


@pytest.mark.parametrize("call", list(CALLS))
async def test_cancelling_a_blocked_call_ends_the_c_call(silent: SilentServer,
                                                        call: str) -> None:
    async with proglog.aio.Client(silent.address, timeout=None) as client:
        task = asyncio.create_task(CALLS[call](client))
        await eventually(lambda: silent.accepted and running(client) == 1, "the call")
        task.cancel()
        # The call's deadline is 300 s: only a cancelled C call ends in time.
        await ends(task)
        assert task.cancelled()
        assert running(client) == 0  # CancelledError came after the C call returned
        assert not client._calls


async def test_wait_for_cancels_the_call(silent: SilentServer) -> None:
    async with proglog.aio.Client(silent.address, timeout=None) as client:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.produce(b"x", timeout=300), 0.3)
        assert running(client) == 0


async def test_a_call_queued_behind_a_full_pool_is_cancelled(
        silent: SilentServer) -> None:
    async with proglog.aio.Client(silent.address, timeout=None, max_concurrency=1) as client:
        first = asyncio.create_task(client.servers(timeout=300))
        await eventually(lambda: running(client) == 1, "the first call")
        queued = asyncio.create_task(client.produce(b"queued", timeout=300))
        await asyncio.sleep(0)  # submitted to the pool, behind `first`
        queued.cancel()
        await ends(queued)
        assert queued.cancelled()
        assert running(client) == 1  # the first call still runs
        first.cancel()
        await ends(first)
        assert running(client) == 0


async def test_a_cancelled_produce_leaves_the_client_usable(
        server: ServerProcess, client: proglog.aio.Client) -> None:
    await client.produce(b"before")  # connected, and the server's size limit learned
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        task = asyncio.create_task(client.produce(b"maybe", timeout=300))
        await eventually(lambda: running(client) == 1, "the produce")
        task.cancel()
        await ends(task)
        assert task.cancelled()
        assert running(client) == 0
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    # Whether the server appended b"maybe" is unknown; the client carries on.
    offset = await client.produce(b"after")
    assert (await client.consume(offset)).value == b"after"


async def test_close_cancels_calls_under_way(silent: SilentServer) -> None:
    client = proglog.aio.Client(silent.address, timeout=None)
    task = asyncio.create_task(client.produce(b"x", timeout=300))
    await eventually(lambda: running(client) == 1, "the call")
    closing = asyncio.create_task(client.close())
    await ends(closing)
    assert running(client) == 0  # close() returned once no call ran
    await ends(task)
    with pytest.raises(proglog.Closed):
        task.result()
    with pytest.raises(proglog.Closed):
        await client.produce(b"late")
    with pytest.raises(proglog.Closed):
        client.subscribe(0)
    await client.close()  # idempotent


async def test_async_for_gets_records_produced_after_it_started(
        client: proglog.aio.Client) -> None:
    await client.produce(b"r0")
    got: list[proglog.Record] = []
    async with client.subscribe(0) as subscription:

        async def follow() -> None:
            async for record in subscription:
                got.append(record)
                if len(got) == 3:
                    break

        follower = asyncio.create_task(follow())
        await eventually(lambda: len(got) == 1 and subscription._handle.waiting(),
                         "the subscription to wait at the tail")
        # The event loop is free while the subscription waits in C.
        assert await client.produce_many([b"r1", b"r2"]) == [1, 2]
        await ends(follower)
        follower.result()
    assert [(r.offset, r.value) for r in got] == [(0, b"r0"), (1, b"r1"), (2, b"r2")]
    assert not subscription._handle.waiting()


async def test_cancelling_an_iteration_ends_the_subscription(
        client: proglog.aio.Client) -> None:
    subscription = client.subscribe(0)
    got: list[proglog.Record] = []

    async def follow() -> None:
        async for record in subscription:
            got.append(record)

    follower = asyncio.create_task(follow())
    await eventually(subscription._handle.waiting, "the subscription to wait")
    follower.cancel()
    await ends(follower)
    assert follower.cancelled()
    assert not subscription._handle.waiting()  # the C wait returned before CancelledError
    assert got == []
    assert [r async for r in subscription] == []  # ended
    offset = await client.produce(b"still works")
    assert (await client.consume(offset)).value == b"still works"


async def test_closing_the_client_ends_a_waiting_subscription(server: ServerProcess) -> None:
    assert server.address is not None
    client = proglog.aio.Client([server.address])
    await client.produce(b"one")
    subscription = client.subscribe(0)
    got: list[bytes] = []

    async def follow() -> None:
        async for record in subscription:
            got.append(record.value)

    follower = asyncio.create_task(follow())
    await eventually(lambda: got and subscription._handle.waiting(), "the tail")
    await client.close()
    assert not subscription._handle.waiting()  # close() waited for the subscription
    await ends(follower)
    follower.result()  # the iteration simply ended
    assert got == [b"one"]


async def test_subscription_next_with_timeout(client: proglog.aio.Client) -> None:
    async with client.subscribe(0) as subscription:
        assert await subscription.next(timeout=0.05) is None
        await client.produce(b"late")
        record = await subscription.next(timeout=30)
        assert record is not None and record.value == b"late"
    with pytest.raises(proglog.Cancelled):
        await subscription.next()


async def test_options_are_checked() -> None:
    address = "127.0.0.1:1"
    with pytest.raises(proglog.InvalidArgument, match="read_from"):
        proglog.aio.Client(address, read_from="random")
    with pytest.raises(proglog.InvalidArgument, match="max_concurrency"):
        proglog.aio.Client(address, max_concurrency=0)
    with pytest.raises(TypeError, match="max_concurrency"):
        proglog.aio.Client(address, max_concurrency=2.0)  # type: ignore[arg-type]
    async with proglog.aio.Client(address) as client:
        with pytest.raises(proglog.InvalidArgument, match="timeout"):
            await client.produce(b"x", timeout=0)
        with pytest.raises(proglog.InvalidArgument, match="offset"):
            await client.consume(-1)


_CTRL_C_UNDER_ASYNCIO_RUN = """
import asyncio, sys, proglog.aio

async def main() -> None:
    async with proglog.aio.Client([sys.argv[1]]) as client:
        print("producing", flush=True)
        await client.produce(b"never answered", timeout=300)

try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


async def test_ctrl_c_under_asyncio_run_cancels_the_call(silent: SilentServer) -> None:
    # asyncio.run turns Ctrl-C into cancelling the main task: the call is cancelled in C
    # and the program ends long before the call's 300 s deadline.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CTRL_C_UNDER_ASYNCIO_RUN, silent.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"producing"
        await eventually(lambda: silent.accepted, "the client to connect")
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert out.split() == [b"interrupted"]
