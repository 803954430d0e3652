# Type stubs of the extension module (see _proglog.cc).
from typing import Optional, overload

def version() -> str: ...
def code_name(code: int) -> str: ...
def set_error_classes(classes: dict[int, type]) -> None: ...

# The C library's codes (proglog_code without the PROGLOG_ prefix).
OK: int
EINVAL: int
EOUTOFRANGE: int
ENOTLEADER: int
EUNAVAILABLE: int
EPERM: int
EUNAUTHENTICATED: int
ETIMEOUT: int
ECANCELLED: int
ECLOSED: int
ENOTFOUND: int
EIO: int
ENOMEM: int
EINTERNAL: int
ETOOLARGE: int
EBUSY: int
# proglog_balance_policy
BALANCE_DEFAULT: int
BALANCE_FOLLOWER_READS: int
BALANCE_LEADER: int
BALANCE_PINNED: int

class ClusterArgs:
    cluster: bool
    bind_addr: Optional[str]
    advertise_host: Optional[str]
    start_join_addrs: list[str]
    bootstrap: bool
    gossip_key: Optional[str]
    raft_heartbeat_interval_ms: int
    raft_election_timeout_ms: int
    peer_tls_cert_file: Optional[str]
    peer_tls_key_file: Optional[str]
    peer_tls_ca_file: Optional[str]
    def __init__(self) -> None: ...

class SecurityArgs:
    server_tls_cert_file: Optional[str]
    server_tls_key_file: Optional[str]
    server_tls_ca_file: Optional[str]
    acl_model_file: Optional[str]
    acl_policy_file: Optional[str]
    def __init__(self) -> None: ...

class NodeHandle:
    def __init__(self, data_dir: str, name: Optional[str], host: Optional[str], port: int,
                 max_store_bytes: int, max_index_bytes: int, max_record_bytes: int,
                 durability: Optional[str], cluster: ClusterArgs,
                 security: SecurityArgs) -> None: ...
    def reload_acl(self) -> None: ...
    def append(self, value: bytes) -> int: ...
    def read(self, offset: int) -> tuple[bytes, int]: ...
    def address(self) -> str: ...
    def gossip_address(self) -> str: ...
    def close(self) -> None: ...

class SubscriptionHandle:
    def next(self, timeout_ms: int) -> Optional[tuple[bytes, int]]: ...
    def cancel(self) -> None: ...
    def waiting(self) -> bool: ...

class CancelToken:
    def __init__(self) -> None: ...
    def trigger(self) -> None: ...

class RetryArgs:
    refresh_interval_ms: int
    max_attempts: int
    initial_backoff_ms: int
    max_backoff_ms: int
    def __init__(self) -> None: ...

class TraceHeaders:
    traceparent: Optional[str]
    tracestate: Optional[str]
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, traceparent: Optional[str], tracestate: Optional[str] = None) -> None: ...

class ClientHandle:
    def __init__(self, addresses: list[str], timeout_ms: int, balance_policy: int, tls: bool,
                 ca_file: Optional[str], cert_file: Optional[str], key_file: Optional[str],
                 server_name: Optional[str], retry: RetryArgs) -> None: ...
    def produce(self, value: bytes, timeout_ms: int, cancel: Optional[CancelToken] = None,
                trace: TraceHeaders = ...) -> int: ...
    def produce_many(self, values: list[bytes], timeout_ms: int,
                     cancel: Optional[CancelToken] = None,
                     trace: TraceHeaders = ...) -> list[int]: ...
    def consume(self, offset: int, timeout_ms: int, cancel: Optional[CancelToken] = None,
                trace: TraceHeaders = ...) -> tuple[bytes, int]: ...
    def subscribe(self, offset: int) -> SubscriptionHandle: ...
    def servers(self, timeout_ms: int, cancel: Optional[CancelToken] = None,
                trace: TraceHeaders = ...) -> list[tuple[str, str, bool]]: ...
    def calls_running(self) -> int: ...
    def close(self) -> None: ...
