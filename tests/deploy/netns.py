"""Test hosts in network namespaces: one namespace per host, all joined by a bridge that
lives in a namespace of its own, so nothing touches the machine's own network. Each host
gets a hosts file (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts), which
plays the part of a cluster's DNS. Namespace names carry a random suffix; close() removes
them and their /etc/netns folders."""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

# TEST-NET-1 (RFC 5737): never routed anywhere, and here it lives only inside the namespaces.
SUBNET = "192.0.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Network:
    def __init__(self, prefix: str = "plg"):
        self.tag = f"{prefix}{secrets.token_hex(3)}"
        self.switch = f"{self.tag}-sw"
        self.hosts: dict[str, str] = {}  # namespace -> address
        self.names: dict[str, list[str]] = {}  # address -> host names published for it
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, short: str) -> tuple[str, str]:
        """Creates a host; returns (namespace, address)."""
        index = len(self.hosts) + 1
        ns = f"{self.tag}-{short}"
        addr = f"{SUBNET}.{index + 10}"
        ip("netns", "add", ns)
        self.hosts[ns] = addr
        port = f"p{index}"
        ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        self.etc_dir(ns).mkdir(parents=True, exist_ok=True)
        self.write_hosts()
        return ns, addr

    @staticmethod
    def etc_dir(ns: str) -> Path:
        return Path("/etc/netns") / ns

    def publish(self, addr: str, names: list[str]) -> None:
        """Makes `names` resolve to `addr` on every host (a DNS record appearing)."""
        self.names[addr] = names
        self.write_hosts()

    def unpublish(self, addr: str) -> None:
        self.names.pop(addr, None)
        self.write_hosts()

    def write_hosts(self) -> None:
        lines = ["127.0.0.1 localhost"]
        lines += [f"{addr} {' '.join(names)}" for addr, names in self.names.items()]
        text = "\n".join(lines) + "\n"
        for ns in self.hosts:
            # Rewritten in place: running processes see the bind-mounted file's new content.
            with open(self.etc_dir(ns) / "hosts", "w") as f:
                f.write(text)

    def close(self) -> None:
        for ns in [*self.hosts, self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(self.etc_dir(ns), ignore_errors=True)
        self.hosts.clear()


def can_run() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for network and mount namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None
