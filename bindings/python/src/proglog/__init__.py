"""proglog: a distributed commit log, from Python.

``Node`` embeds a node in this process (it appends and reads locally and serves
remote clients on its port); ``Client`` talks to one or more servers. Both are
context managers and safe to share between threads; blocking calls release the
GIL. Failures raise ``proglog.Error`` subclasses, one per C API code.
``proglog.aio.Client`` is the client for asyncio code (its calls awaited).

With ``opentelemetry-api`` installed (``pip install proglog[otel]``), every
client call carries the caller's current trace context (W3C ``traceparent``
and ``tracestate``, through ``opentelemetry.propagate.inject``), so the
server's span of the call joins the caller's trace. Without it nothing is
sent and nothing of OpenTelemetry is imported.

The library never prints: what the embedded node, the clients and gRPC inside
them log goes to the ``logging`` logger ``"proglog"`` (INFO and above; a failed
TLS handshake is the WARNING "TLS handshake failed" with ``reason=...`` and
``peer=...``), whose
records carry their fields as ``record.proglog_fields``. The package adds a
``NullHandler`` to it, so nothing is shown until the application configures
logging.

    with proglog.Node("data") as node:
        offset = node.append(b"hello")
        with proglog.Client([node.address]) as client:
            print(client.consume(offset).value)
"""

from __future__ import annotations

import atexit
import ctypes
import enum
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Optional, Union

from . import _proglog

__all__ = [
    "Busy",
    "BytesLike",
    "Cancelled",
    "Client",
    "Closed",
    "DEFAULT",
    "Error",
    "Internal",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "NotLeader",
    "Node",
    "OffsetOutOfRange",
    "OutOfMemory",
    "PermissionDenied",
    "Record",
    "Server",
    "StorageError",
    "Stream",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "__version__",
]

__version__: str = _proglog.version()

_logger = logging.getLogger("proglog")
_logger.addHandler(logging.NullHandler())

_LogFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                          ctypes.c_size_t)
_LOG_INFO = 20  # PROGLOG_LOG_INFO


def _forward_log(_user_data: object, level: int, message: bytes, keys: Any, values: Any,
                 count: int) -> None:
    """Runs on the library's log thread (ctypes takes the GIL)."""
    fields = {(keys[i] or b"").decode("utf-8", "replace"): (values[i] or b"").decode(
        "utf-8", "replace") for i in range(count)}
    text = message.decode("utf-8", "replace")
    if fields:
        text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
    _logger.log(level, "%s", text, extra={"proglog_fields": fields})


def _route_logs() -> None:
    """Hands the C library's log records to the "proglog" logger."""
    # The extension loaded this very file (same inode): dlopen returns that copy.
    library = ctypes.CDLL(os.path.join(os.path.dirname(_proglog.__file__), "libproglog.so.0"))
    set_handler = library.proglog_set_log_handler
    set_handler.argtypes = [_LogFn, ctypes.c_int, ctypes.c_void_p]
    set_handler.restype = ctypes.c_int
    callback = _LogFn(_forward_log)
    set_handler(callback, _LOG_INFO, None)
    # No records during interpreter shutdown; ctypes releases the GIL around
    # the call, so a record being delivered can finish first.
    atexit.register(set_handler, _LogFn(), 0, None)
    globals()["_log_callback"] = callback  # kept alive as long as the module


_route_logs()

# What the write calls accept: bytes, or any bytes-like object that is copied.
BytesLike = Union[bytes, bytearray, memoryview]


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"


# The value of a ``timeout`` left out: the library's default for a Client, the
# client's timeout for a call. (None means no deadline, as in the socket module.)
DEFAULT: Final = _Default.DEFAULT
# A ``timeout`` argument: seconds, None (no deadline) or DEFAULT.
TimeoutArg = Union[float, None, Literal[_Default.DEFAULT]]

# How long a Stream waits in C before returning to Python, where Ctrl-C is seen.
_SIGNAL_CHECK_MS = 100


class Error(Exception):
    """A proglog failure. ``code`` is the C API code (negative), ``retryable``
    says whether the same call may succeed later, ``leader`` names the leader's
    address when a follower refused a write. ``written`` lists, for a failed
    ``produce_many``, the offsets of the records appended before the failure
    (a retry sends only the values after them); it is empty otherwise.
    ``outcome_unknown`` is true when a failed produce may nevertheless have
    appended its record(s): an attempt reached a server and its answer was lost
    (connection broken, deadline passed). Producing again may then duplicate the
    record; read the log first if that matters."""

    def __init__(self, message: str, code: int = _proglog.EINTERNAL,
                 retryable: bool = False, leader: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.leader = leader
        self.written: list[int] = []
        self.outcome_unknown = False


class InvalidArgument(Error, ValueError):
    """Bad input: an oversized record, malformed options."""


class MessageTooLarge(Error, ValueError):
    """A record over the server's maximum record size; nothing of the call was
    appended (``produce_many`` checks every value before sending any)."""


class OffsetOutOfRange(Error, IndexError):
    """No record at that offset (yet)."""


class NotLeader(Error):
    """A follower refused a write; ``leader`` may name the leader."""


class Unavailable(Error):
    """No server answered, or a stream's server went away."""


class PermissionDenied(Error):
    """The ACL refused the request."""


class Unauthenticated(Error):
    """The TLS peer identity was missing or rejected."""


class Timeout(Error, TimeoutError):
    """The call's deadline passed."""


class Cancelled(Error):
    """The call or stream was cancelled."""


class Closed(Error):
    """The node or client was closed."""


class NotFound(Error, FileNotFoundError):
    """A file or directory named in the options is missing."""


class StorageError(Error, OSError):
    """Disk full, corrupt data or another I/O failure."""


class Busy(Error):
    """The data dir is in use by another open node (in this process or
    another): stop that node or choose another directory."""


class OutOfMemory(Error, MemoryError):
    """The library ran out of memory."""


class Internal(Error):
    """A bug or an unexpected answer from a server."""


# By the C library's codes; a code missing here raises Error.
_proglog.set_error_classes({
    0: Error,
    _proglog.EINVAL: InvalidArgument,
    _proglog.EOUTOFRANGE: OffsetOutOfRange,
    _proglog.ENOTLEADER: NotLeader,
    _proglog.EUNAVAILABLE: Unavailable,
    _proglog.EPERM: PermissionDenied,
    _proglog.EUNAUTHENTICATED: Unauthenticated,
    _proglog.ETIMEOUT: Timeout,
    _proglog.ECANCELLED: Cancelled,
    _proglog.ECLOSED: Closed,
    _proglog.ENOTFOUND: NotFound,
    _proglog.EIO: StorageError,
    _proglog.ENOMEM: OutOfMemory,
    _proglog.EINTERNAL: Internal,
    _proglog.ETOOLARGE: MessageTooLarge,
    _proglog.EBUSY: Busy,
})


@dataclass(frozen=True)
class Record:
    """One record of the log."""

    value: bytes
    offset: int


@dataclass(frozen=True)
class Server:
    """A server of the cluster, as GetServers reports it."""

    id: str
    rpc_addr: str
    is_leader: bool


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _as_values(values: Iterable[BytesLike]) -> list[bytes]:
    """The values of a produce_many, each checked and copied to bytes."""
    if isinstance(values, (bytes, bytearray, str)):
        raise TypeError("values must be an iterable of bytes, not a single "
                        f"{type(values).__name__}")
    return [_as_bytes(v, f"values[{i}]") for i, v in enumerate(values)]


def _as_path(path: Union[str, os.PathLike[str], None], name: str) -> Optional[str]:
    if path is None or isinstance(path, str):
        return path
    if isinstance(path, os.PathLike):
        return os.fspath(path)
    raise TypeError(f"{name} must be str or os.PathLike, not {type(path).__name__}")


def _as_offset(offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be int, not {type(offset).__name__}")
    if offset < 0:
        raise InvalidArgument("offset must not be negative", _proglog.EINVAL)
    return offset


def _as_ms(seconds: Optional[float], name: str) -> int:
    """Seconds to whole milliseconds for the C API; None stays 0 (the default)."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    ms = int(seconds * 1000)
    return max(1, ms) if seconds > 0 else ms


def _positive_ms(seconds: object, name: str) -> int:
    """A positive number of seconds in whole milliseconds (at least 1)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    if not seconds > 0 or math.isinf(seconds):
        raise InvalidArgument(f"{name} must be a positive number of seconds", _proglog.EINVAL)
    return max(1, int(seconds * 1000))


def _timeout_ms(timeout: TimeoutArg, name: str = "timeout") -> int:
    """A deadline for the C API: DEFAULT 0, None -1 (no deadline), else milliseconds."""
    if timeout is DEFAULT:
        return 0
    if timeout is None:
        return -1
    return _positive_ms(timeout, name)


def _retry_args(refresh_interval: Optional[float], max_attempts: Optional[int],
                backoff: Optional[tuple[Optional[float], Optional[float]]]
                ) -> _proglog.RetryArgs:
    """The discovery and retry options for the C API; None stays 0 (the library default)."""
    args = _proglog.RetryArgs()
    if refresh_interval is not None:
        args.refresh_interval_ms = (-1 if refresh_interval == math.inf
                                    else _positive_ms(refresh_interval, "refresh_interval"))
    if max_attempts is not None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError(f"max_attempts must be int, not {type(max_attempts).__name__}")
        if max_attempts < 1:
            raise InvalidArgument("max_attempts must be at least 1", _proglog.EINVAL)
        args.max_attempts = max_attempts
    if backoff is not None:
        if not isinstance(backoff, tuple) or len(backoff) != 2:
            raise TypeError("backoff must be a tuple (initial, maximum) of seconds or None")
        initial, maximum = backoff
        if initial is not None:
            args.initial_backoff_ms = _positive_ms(initial, "backoff[0]")
        if maximum is not None:
            args.max_backoff_ms = _positive_ms(maximum, "backoff[1]")
    return args


class Node:
    """An embedded proglog node: what ``proglog serve`` runs, in this process.

    ``data_dir`` holds the log (created if missing). ``name`` is the node's id
    in the cluster (default: the host name). The node serves clients on
    ``host:port`` (port 0 picks a free one; see ``address``). ``durability`` is
    "always" (default), "never" or "interval:<ms>". Size limits of 0 keep the
    defaults.

    With ``cluster=True`` the node is a cluster member like ``proglog serve``:
    it replicates its log with Raft (carried on its RPC port) and finds the
    other members by gossip, so it can bootstrap or join a cluster of
    ``proglog`` binaries. The cluster options (each also a ``proglog serve``
    flag) are:

    - ``bind_addr``: the gossip address "ip:port" (required; port 0 picks a
      free one, see ``gossip_address``).
    - ``advertise_host``: the host other nodes and clients use to reach the RPC
      port (None: ``host``; required when ``host`` is a wildcard).
    - ``start_join_addrs``: gossip addresses of members to join, retried in the
      background.
    - ``bootstrap``: start a one-voter cluster when the data dir is new.
    - ``gossip_key``: the shared gossip encryption key in base64, as ``serf
      keygen`` prints it (None: unencrypted gossip).
    - ``raft_heartbeat_interval``, ``raft_election_timeout``: Raft timing in
      seconds (None: the library defaults; the timeout must be at least twice
      the interval).
    - ``peer_tls_cert_file``, ``peer_tls_key_file``, ``peer_tls_ca_file``:
      mutual TLS for Raft between nodes (PEM files, all three or none).

    Client TLS and the ACL, as ``proglog serve``'s ``--server-tls-*`` and
    ``--acl-*`` flags:

    - ``server_tls_cert_file``, ``server_tls_key_file``, ``server_tls_ca_file``:
      PEM files, all three or none. With them the node serves TLS only and
      requires client certificates signed by the CA.
    - ``acl_model_file``, ``acl_policy_file``: both or none, and only with TLS;
      the policy authorizes each client certificate's Common Name to
      "produce" or "consume". ``reload_acl()`` re-reads them.

    A partial or invalid set raises ``InvalidArgument`` before ``data_dir`` is
    created.

    Opening returns without waiting for the join or for a leader: ``append``
    raises ``NotLeader`` (or ``Unavailable``) until this node leads, and reads
    see what has been replicated here so far. A cluster option given without
    ``cluster=True`` raises ``InvalidArgument``.
    """

    def __init__(self, data_dir: Union[str, os.PathLike[str]], *, name: Optional[str] = None,
                 host: str = "127.0.0.1",
                 port: int = 0, max_store_bytes: int = 0, max_index_bytes: int = 0,
                 max_record_bytes: int = 0, durability: Optional[str] = None,
                 cluster: bool = False, bind_addr: Optional[str] = None,
                 advertise_host: Optional[str] = None,
                 start_join_addrs: Union[str, Sequence[str]] = (), bootstrap: bool = False,
                 gossip_key: Optional[str] = None,
                 raft_heartbeat_interval: Optional[float] = None,
                 raft_election_timeout: Optional[float] = None,
                 peer_tls_cert_file: Union[str, os.PathLike[str], None] = None,
                 peer_tls_key_file: Union[str, os.PathLike[str], None] = None,
                 peer_tls_ca_file: Union[str, os.PathLike[str], None] = None,
                 server_tls_cert_file: Union[str, os.PathLike[str], None] = None,
                 server_tls_key_file: Union[str, os.PathLike[str], None] = None,
                 server_tls_ca_file: Union[str, os.PathLike[str], None] = None,
                 acl_model_file: Union[str, os.PathLike[str], None] = None,
                 acl_policy_file: Union[str, os.PathLike[str], None] = None) -> None:
        if isinstance(start_join_addrs, str):
            start_join_addrs = [start_join_addrs]
        joins = list(start_join_addrs)
        for address in joins:
            if not isinstance(address, str):
                raise TypeError(f"start_join_addrs must be str, not {type(address).__name__}")
        args = _proglog.ClusterArgs()
        args.cluster = cluster
        args.bind_addr = bind_addr
        args.advertise_host = advertise_host
        args.start_join_addrs = joins
        args.bootstrap = bootstrap
        args.gossip_key = gossip_key
        args.raft_heartbeat_interval_ms = _as_ms(raft_heartbeat_interval,
                                                 "raft_heartbeat_interval")
        args.raft_election_timeout_ms = _as_ms(raft_election_timeout, "raft_election_timeout")
        args.peer_tls_cert_file = _as_path(peer_tls_cert_file, "peer_tls_cert_file")
        args.peer_tls_key_file = _as_path(peer_tls_key_file, "peer_tls_key_file")
        args.peer_tls_ca_file = _as_path(peer_tls_ca_file, "peer_tls_ca_file")
        security = _proglog.SecurityArgs()
        security.server_tls_cert_file = _as_path(server_tls_cert_file, "server_tls_cert_file")
        security.server_tls_key_file = _as_path(server_tls_key_file, "server_tls_key_file")
        security.server_tls_ca_file = _as_path(server_tls_ca_file, "server_tls_ca_file")
        security.acl_model_file = _as_path(acl_model_file, "acl_model_file")
        security.acl_policy_file = _as_path(acl_policy_file, "acl_policy_file")
        self._handle = _proglog.NodeHandle(os.fspath(data_dir), name, host, port, max_store_bytes,
                                           max_index_bytes, max_record_bytes, durability, args,
                                           security)

    @property
    def address(self) -> str:
        """The "host:port" the node serves on (for a cluster node, as advertised)."""
        return self._handle.address()

    @property
    def gossip_address(self) -> str:
        """The gossip "ip:port" of a cluster node, what other members put in
        their ``start_join_addrs``; "" without ``cluster=True``."""
        return self._handle.gossip_address()

    def reload_acl(self) -> None:
        """Re-reads the ACL files, as ``proglog serve`` does on SIGHUP. A policy
        that does not parse raises InvalidArgument and the one in force stays;
        so does a node opened without an ACL."""
        self._handle.reload_acl()

    def append(self, value: BytesLike) -> int:
        """Appends a record locally; returns its offset once it is durable (on a
        cluster node: once Raft committed it; a follower raises NotLeader)."""
        return self._handle.append(_as_bytes(value, "value"))

    def read(self, offset: int) -> Record:
        """Reads a record locally; OffsetOutOfRange if there is none."""
        value, at = self._handle.read(_as_offset(offset))
        return Record(value, at)

    def close(self) -> None:
        """Stops serving and closes the log. Idempotent."""
        self._handle.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class Stream:
    """Records from an offset on, following the tail: iterating blocks until the
    next record arrives. Ends (StopIteration) only after ``close()``. When its
    server goes away it carries on from another one; Unavailable when none can.
    Ctrl-C interrupts a waiting iteration."""

    def __init__(self, handle: _proglog.SubscriptionHandle) -> None:
        self._handle = handle
        self._closed = False

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        while True:
            if self._closed:
                raise StopIteration
            try:
                got = self._handle.next(_SIGNAL_CHECK_MS)
            except Cancelled:
                self._closed = True
                raise StopIteration from None
            if got is not None:
                return Record(got[0], got[1])

    def next(self, timeout: Optional[float] = None) -> Optional[Record]:
        """The next record, or None if none arrived within ``timeout`` seconds
        (None: wait as long as it takes). Ctrl-C interrupts the wait."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            # Waits in slices so that Python sees Ctrl-C between them.
            wait_ms = _SIGNAL_CHECK_MS
            if deadline is not None:
                wait_ms = min(wait_ms, max(0, int((deadline - time.monotonic()) * 1000)))
            got = self._handle.next(wait_ms)
            if got is not None:
                return Record(got[0], got[1])
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        """Ends the stream; safe from any thread. Idempotent."""
        self._closed = True
        self._handle.cancel()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


_READ_FROM = {None: _proglog.BALANCE_DEFAULT, "followers": _proglog.BALANCE_FOLLOWER_READS,
              "leader": _proglog.BALANCE_LEADER, "pinned": _proglog.BALANCE_PINNED}


# opentelemetry.propagate.inject once looked up (at the first call, not at
# import): None before that, False when opentelemetry-api is not installed.
_otel_inject: Any = None
_NO_TRACE: Final = _proglog.TraceHeaders()


def _trace_headers() -> _proglog.TraceHeaders:
    """The current OpenTelemetry trace context as the C call options take it
    (the globally configured propagator decides what it holds; only its W3C
    ``traceparent``/``tracestate`` are sent); none without opentelemetry-api
    or without a current span."""
    global _otel_inject
    if _otel_inject is None:
        try:
            from opentelemetry.propagate import inject
        except ImportError:
            _otel_inject = False
        else:
            _otel_inject = inject
    if _otel_inject is False:
        return _NO_TRACE
    carrier: dict[str, str] = {}
    _otel_inject(carrier)
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return _NO_TRACE
    return _proglog.TraceHeaders(traceparent, carrier.get("tracestate"))


class Client:
    """A client of a proglog cluster, given the "host:port" of any of its
    servers (one is enough; several help when some are down).

    The client learns the cluster from the first server that answers
    (GetServers) and keeps that view fresh. Writes go to the leader, wherever
    the client was pointed, and follow leader changes. Calls that meet an
    unreachable server or an election are retried with exponential backoff and
    jitter, within the call's deadline and ``max_attempts``. A produce retried
    after its first attempt's answer was lost may append its record twice; one
    that fails after such an attempt has ``outcome_unknown`` set on its error.

    Options (None: the library's default, which the C header documents):

    - ``timeout``: each call's deadline in seconds, retries included (None: no
      deadline; left out: the library's default). A call may override it.
    - ``read_from``: "followers" (the default: reads rotate over the followers,
      the leader when it is alone), "leader", or "pinned": every call goes to
      the given addresses only (no discovery; a follower refuses writes with
      NotLeader naming the leader), to look at one particular node.
    - ``refresh_interval``: seconds between refreshes of the server list while
      calls are made (``math.inf``: refresh only after failures).
    - ``max_attempts``: attempts per call, the first included (1: never retry).
    - ``backoff``: ``(initial, maximum)`` pause between attempts in seconds;
      either may be None.

    TLS is used when ``tls`` is true or any TLS file is given: ``ca_file`` (PEM
    CA; None: the system roots), ``cert_file`` and ``key_file`` (the client
    certificate for mutual TLS), ``server_name`` (the name to verify in the
    server certificate instead of the address's host). Safe to share between
    threads. On the main thread, Ctrl-C cancels a blocking call and raises
    KeyboardInterrupt once the call has ended (an interrupted produce may have
    appended its record).
    """

    def __init__(self, addresses: Union[str, Sequence[str]], *,
                 timeout: TimeoutArg = DEFAULT, read_from: Optional[str] = None,
                 refresh_interval: Optional[float] = None, max_attempts: Optional[int] = None,
                 backoff: Optional[tuple[Optional[float], Optional[float]]] = None,
                 tls: bool = False,
                 ca_file: Union[str, os.PathLike[str], None] = None,
                 cert_file: Union[str, os.PathLike[str], None] = None,
                 key_file: Union[str, os.PathLike[str], None] = None,
                 server_name: Optional[str] = None) -> None:
        if isinstance(addresses, str):
            addresses = [addresses]
        addresses = list(addresses)
        for address in addresses:
            if not isinstance(address, str):
                raise TypeError(f"addresses must be str, not {type(address).__name__}")
        if read_from not in _READ_FROM:
            raise InvalidArgument('read_from must be "followers", "leader" or "pinned"',
                                  _proglog.EINVAL)
        retry = _retry_args(refresh_interval, max_attempts, backoff)
        ca, cert, key = (_as_path(ca_file, "ca_file"), _as_path(cert_file, "cert_file"),
                         _as_path(key_file, "key_file"))
        # The library turns TLS on for any of the files too.
        self._handle = _proglog.ClientHandle(addresses, _timeout_ms(timeout),
                                             _READ_FROM[read_from], tls, ca, cert, key,
                                             server_name, retry)

    # Every blocking call takes ``timeout``: seconds, None (no deadline), or left
    # out for the client's.

    def produce(self, value: BytesLike, *, timeout: TimeoutArg = DEFAULT) -> int:
        """Appends one record at the leader; returns its offset. If it fails
        with ``outcome_unknown`` set, the record may be in the log anyway."""
        return self._handle.produce(_as_bytes(value, "value"), _timeout_ms(timeout),
                                    trace=_trace_headers())

    def produce_many(self, values: Iterable[BytesLike], *,
                     timeout: TimeoutArg = DEFAULT) -> list[int]:
        """Appends records in order over one stream; returns their offsets.

        All or nothing at validation: if any value is over the server's maximum
        record size, MessageTooLarge is raised and nothing is appended. If the
        server fails after appending some, the exception's ``written`` lists
        their offsets."""
        return self._handle.produce_many(_as_values(values), _timeout_ms(timeout),
                                         trace=_trace_headers())

    def consume(self, offset: int, *, timeout: TimeoutArg = DEFAULT) -> Record:
        """Reads the record at ``offset`` (from a follower unless ``read_from``
        is "leader"); OffsetOutOfRange if there is none yet."""
        value, at = self._handle.consume(_as_offset(offset), _timeout_ms(timeout),
                                         trace=_trace_headers())
        return Record(value, at)

    def subscribe(self, offset: int = 0) -> Stream:
        """Follows the log from ``offset``: ``for record in client.subscribe(0): ...``
        When the server it reads from goes away, the stream carries on from the
        next offset on another server (no gap, no duplicate); Unavailable if
        none can."""
        return Stream(self._handle.subscribe(_as_offset(offset)))

    def stream(self, offset: int = 0) -> Stream:
        """The same as ``subscribe``."""
        return self.subscribe(offset)

    def servers(self, *, timeout: TimeoutArg = DEFAULT) -> list[Server]:
        """The cluster's servers as one of them sees them now, the leader
        flagged (``is_leader``)."""
        listed = self._handle.servers(_timeout_ms(timeout), trace=_trace_headers())
        return [Server(i, a, l) for i, a, l in listed]

    def close(self) -> None:
        """Ends open streams; later calls raise Closed. Idempotent."""
        self._handle.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
