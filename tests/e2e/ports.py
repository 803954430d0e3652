"""Loopback ports for processes that must be told theirs before they start.

A node restarted on the same address, or whose gossip address another node is
given before either runs, cannot bind port 0: the test picks a port and hands
it over, and until the node binds it anything may take it. The commonest taker
is an outgoing connection, whose local port the kernel draws from its
ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), and a test cluster
opens many. So ports come at random from outside that range, are checked free,
and are never handed out twice by one process. The C++ tests do the same
(tests/testing/free_port.h).
"""

import random
import socket
import threading

_FLOOR, _CEILING = 10000, 65535  # below 10000 live well-known services
_random = random.SystemRandom()
_lock = threading.Lock()
_handed_out: set = set()


def ephemeral_range() -> tuple:
    """The kernel's range for outgoing connections' local ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _pick_range() -> tuple:
    low, high = ephemeral_range()
    if low - _FLOOR >= _CEILING - high:
        return _FLOOR, low - 1
    return high + 1, _CEILING


def _bindable(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(udp_too: bool = False) -> int:
    """A 127.0.0.1 port outside the ephemeral range, free for TCP (and UDP with
    `udp_too`) a moment ago, and not returned before by this process."""
    low, high = _pick_range()
    with _lock:
        for _ in range(500):
            port = _random.randint(low, high)
            if port in _handed_out or not _bindable(socket.SOCK_STREAM, port):
                continue
            if udp_too and not _bindable(socket.SOCK_DGRAM, port):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {low}-{high} after 500 tries")
