"""proglog.aio: the proglog client for asyncio code.

    import proglog.aio

    async def main() -> None:
        async with proglog.aio.Client(["127.0.0.1:8400"]) as client:
            offset = await client.produce(b"hello")
            record = await client.consume(offset)
            offsets = await client.produce_many([b"a", b"b"])
            servers = await client.servers()
            async for record in client.subscribe(0):
                ...

``Client`` takes the options of ``proglog.Client``, behaves as it does
(discovery, routing, retries) and raises the same ``proglog.Error``
subclasses; every call takes its own ``timeout=``.

The C library's calls block, so each call runs on a thread of the client's
pool (at most ``max_concurrency`` threads, started as needed; further calls
wait their turn) with the GIL released, while the event loop carries on. A
subscription waits for records on one thread of its own while it is iterated.

Cancellation (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``):
the C call is cancelled, and ``CancelledError`` propagates only once it has
returned, so a cancelled task leaves no call running. A cancelled ``produce``
or ``produce_many`` has an unknown outcome, as a produce that fails with
``outcome_unknown`` set: its records may have been appended; read the log
before producing again if a duplicate matters. Cancelling a task waiting on a
subscription ends that subscription. ``close()`` (or leaving ``async with``)
ends the subscriptions, cancels the calls in flight (they raise
``proglog.Closed``) and waits for them to return.

A client belongs to the event loop it is used on; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union

from . import (DEFAULT, BytesLike, Cancelled, Closed, InvalidArgument, Record, Server,
               TimeoutArg, _as_bytes, _as_offset, _as_values, _proglog, _timeout_ms,
               _trace_headers)
from . import Client as _SyncClient

__all__ = ["Client", "Subscription"]

T = TypeVar("T")

# Calls a client runs at once unless told otherwise.
_DEFAULT_MAX_CONCURRENCY = 16


async def _await_ended(future: concurrent.futures.Future[T], cancel: Callable[[], None]) -> T:
    """The result of `future`, a blocking call on a pool thread. If the awaiting
    task is cancelled, `cancel()` stops the call and CancelledError propagates
    once the call has returned (a call not yet started never starts)."""
    waited = asyncio.wrap_future(future)
    try:
        # Shielded: cancelling the task must not cancel `waited` before the call ends.
        return await asyncio.shield(waited)
    except asyncio.CancelledError:
        future.cancel()
        cancel()
        await _call_end(waited)
        raise


async def _call_end(waited: asyncio.Future[Any]) -> None:
    """Waits until `waited` is done, whatever it ends with, through further
    cancellations of the task: a cancelled call returns promptly."""
    while not waited.done():
        try:
            await asyncio.shield(waited)
        except (asyncio.CancelledError, Exception):  # the call's outcome no longer matters
            pass
    if not waited.cancelled():
        waited.exception()  # retrieved: asyncio does not log it as lost


class Subscription:
    """Records from an offset on, following the tail: ``async for record in
    subscription`` waits for the next record without blocking the event loop.
    The iteration ends (StopAsyncIteration) once the subscription or its client
    is closed. When its server goes away it carries on from another one;
    Unavailable when none can. Cancelling a task that waits on it ends the
    subscription. Use it from one task at a time; ``async with`` closes it."""

    def __init__(self, handle: _proglog.SubscriptionHandle) -> None:
        self._handle = handle
        # The C subscription is used by one thread at a time: this one.
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="proglog-aio-subscription")
        self._waiting: Optional[concurrent.futures.Future[Optional[tuple[bytes, int]]]] = None
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Record:
        if self._closed:
            raise StopAsyncIteration
        try:
            got = await self._wait(-1)
        except Cancelled:
            self._closed = True
            raise StopAsyncIteration from None
        assert got is not None  # no deadline: a record or an error
        return Record(got[0], got[1])

    async def next(self, timeout: Optional[float] = None) -> Optional[Record]:
        """The next record, or None if none arrived within ``timeout`` seconds
        (None: wait as long as it takes). Cancelled once the subscription or
        its client is closed."""
        got = await self._wait(-1 if timeout is None else max(0, int(timeout * 1000)))
        return None if got is None else Record(got[0], got[1])

    async def _wait(self, timeout_ms: int) -> Optional[tuple[bytes, int]]:
        if self._closed:
            raise Cancelled("the subscription is closed", _proglog.ECANCELLED)
        if self._waiting is not None:
            raise RuntimeError("another task is waiting on this subscription")
        self._waiting = self._thread.submit(self._handle.next, timeout_ms)
        try:
            return await _await_ended(self._waiting, self.close)
        finally:
            self._waiting = None

    def close(self) -> None:
        """Ends the subscription and wakes a waiting iteration, which then
        stops. Idempotent; does not wait (``aclose`` does)."""
        self._closed = True
        self._handle.cancel()
        self._thread.shutdown(wait=False)

    async def aclose(self) -> None:
        """Closes the subscription and waits until its thread is no longer
        waiting in C."""
        self.close()
        if self._waiting is not None:
            await _call_end(asyncio.wrap_future(self._waiting))

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.aclose()


class Client:
    """A client of a proglog cluster for asyncio code: ``proglog.Client``'s
    options and behaviour, its calls awaited. ``max_concurrency`` bounds the
    calls under way at once (threads of the client's pool; default 16);
    further calls wait for one to end. See the module docstring for
    cancellation."""

    def __init__(self, addresses: Union[str, Sequence[str]], *,
                 timeout: TimeoutArg = DEFAULT, read_from: Optional[str] = None,
                 refresh_interval: Optional[float] = None, max_attempts: Optional[int] = None,
                 backoff: Optional[tuple[Optional[float], Optional[float]]] = None,
                 tls: bool = False,
                 ca_file: Union[str, os.PathLike[str], None] = None,
                 cert_file: Union[str, os.PathLike[str], None] = None,
                 key_file: Union[str, os.PathLike[str], None] = None,
                 server_name: Optional[str] = None,
                 max_concurrency: int = _DEFAULT_MAX_CONCURRENCY) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(
                f"max_concurrency must be int, not {type(max_concurrency).__name__}")
        if max_concurrency < 1:
            raise InvalidArgument("max_concurrency must be at least 1", _proglog.EINVAL)
        self._client = _SyncClient(addresses, timeout=timeout, read_from=read_from,
                                   refresh_interval=refresh_interval,
                                   max_attempts=max_attempts, backoff=backoff, tls=tls,
                                   ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                                   server_name=server_name)
        self._handle = self._client._handle
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="proglog-aio")
        # The calls under way, with the tokens that cancel them.
        self._calls: dict[concurrent.futures.Future[Any], _proglog.CancelToken] = {}
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._closed = False

    async def produce(self, value: BytesLike, *, timeout: TimeoutArg = DEFAULT) -> int:
        """Appends one record at the leader; returns its offset. If it fails
        with ``outcome_unknown`` set, or the awaiting task is cancelled, the
        record may be in the log anyway."""
        return await self._run(self._handle.produce, _as_bytes(value, "value"),
                               _timeout_ms(timeout))

    async def produce_many(self, values: Iterable[BytesLike], *,
                           timeout: TimeoutArg = DEFAULT) -> list[int]:
        """Appends records in order over one stream; returns their offsets.
        As ``proglog.Client.produce_many``: MessageTooLarge before anything is
        sent, ``written`` on a failure after some were appended. Cancelled, it
        may have appended any leading part of them."""
        return await self._run(self._handle.produce_many, _as_values(values),
                               _timeout_ms(timeout))

    async def consume(self, offset: int, *, timeout: TimeoutArg = DEFAULT) -> Record:
        """Reads the record at ``offset``; OffsetOutOfRange if there is none yet."""
        value, at = await self._run(self._handle.consume, _as_offset(offset),
                                    _timeout_ms(timeout))
        return Record(value, at)

    async def servers(self, *, timeout: TimeoutArg = DEFAULT) -> list[Server]:
        """The cluster's servers as one of them sees them now, the leader flagged."""
        listed = await self._run(self._handle.servers, _timeout_ms(timeout))
        return [Server(i, a, l) for i, a, l in listed]

    def subscribe(self, offset: int = 0) -> Subscription:
        """Follows the log from ``offset``: ``async for record in
        client.subscribe(0): ...`` (no await: nothing is sent until the first
        iteration). Carries on from server to server as ``proglog.Client``'s
        stream does."""
        self._check_open()
        subscription = Subscription(self._handle.subscribe(_as_offset(offset)))
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        """Ends the subscriptions, cancels the calls under way (they raise
        Closed), and returns once none is running any more; later calls raise
        Closed. Idempotent."""
        if not self._closed:
            self._closed = True
            self._client.close()  # the C client: subscriptions end, later calls fail
            for token in self._calls.values():
                token.trigger()
            self._pool.shutdown(wait=False)
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        for future in list(self._calls):
            await _call_end(asyncio.wrap_future(future))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise Closed("the client is closed", _proglog.ECLOSED)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        """Runs the blocking ``call(*args, cancel=token, trace=...)`` on the
        pool, with the trace context current in the awaiting task (the pool's
        thread has a context of its own)."""
        self._check_open()
        token = _proglog.CancelToken()
        future = self._pool.submit(call, *args, cancel=token, trace=_trace_headers())
        self._calls[future] = token
        try:
            return await _await_ended(future, token.trigger)
        except Cancelled as err:
            if not self._closed:
                raise
            raise _closed_during_call(err) from None
        finally:
            del self._calls[future]


def _closed_during_call(cancelled: Cancelled) -> Closed:
    """The error of a call that close() cancelled: Closed, keeping what the
    cancelled call knew (whether a produce may have appended, what it wrote)."""
    closed = Closed("the client was closed during the call", _proglog.ECLOSED)
    closed.outcome_unknown = cancelled.outcome_unknown
    closed.written = cancelled.written
    return closed
