"""Bulk produce through the Python SDK: produce_many of N records against one
node with --fsync=always, mutual TLS and the ACL, as a bulk producer runs it.

Prints records/s and MB/s. Needs the package built (bindings/python/run-tests.sh
build) and a proglog binary:

    build/python-venv/bin/python bench/sdk/python_bulk_bench.py \\
        --proglog-bin build/server/proglog --records 1000000
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import proglog

MODEL = """[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(binary: str, pki: Path) -> None:
    def cert(*args: str) -> None:
        subprocess.run([binary, "cert", *args, "--dir", str(pki)], check=True,
                       capture_output=True)
    cert("ca")
    cert("issue", "--role", "server", "--cn", "server")
    cert("issue", "--role", "client", "--cn", "root")
    (pki / "model.conf").write_text(MODEL)
    (pki / "policy.csv").write_text("p, root, *, produce\np, root, *, consume\n")


def wait_listening(port: int, node: subprocess.Popen, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and node.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    node.kill()
    print(f"the node did not listen on {port}:\n{node.communicate()[1].decode()}", file=sys.stderr)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proglog-bin", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20_000, help="values per produce_many call")
    parser.add_argument("--fsync", default="always")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="proglog-bulk-") as tmp:
        base = Path(tmp)
        pki = base / "pki"
        pki.mkdir()
        make_certs(args.proglog_bin, pki)
        port = free_port()
        node = subprocess.Popen(
            [args.proglog_bin, "--data-dir", str(base / "data"), "--rpc-port", str(port),
             "--bind-addr", f"127.0.0.1:{free_port()}", "--bootstrap", "--fsync", args.fsync,
             "--server-tls-cert-file", str(pki / "server.pem"),
             "--server-tls-key-file", str(pki / "server-key.pem"),
             "--server-tls-ca-file", str(pki / "ca.pem"),
             "--acl-model-file", str(pki / "model.conf"),
             "--acl-policy-file", str(pki / "policy.csv")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if not wait_listening(port, node):
                return 1
            client = proglog.Client(f"127.0.0.1:{port}", tls=True, ca_file=str(pki / "ca.pem"),
                                    cert_file=str(pki / "root-client.pem"),
                                    key_file=str(pki / "root-client-key.pem"), timeout=60)
            client.produce(b"warm-up")  # connection, handshake and limits out of the clock
            value = os.urandom(args.value_bytes)
            batch = [value] * args.batch
            sent = 0
            start = time.perf_counter()
            while sent < args.records:
                count = min(args.batch, args.records - sent)
                offsets = client.produce_many(batch[:count])
                assert len(offsets) == count
                sent += count
            seconds = time.perf_counter() - start
            last = client.consume(offsets[-1])
            assert last.value == value
            client.close()
        finally:
            node.terminate()
            node.wait(timeout=30)
    rate = sent / seconds
    print(f"produce_many: {sent} records of {args.value_bytes} B in batches of {args.batch}, "
          f"--fsync={args.fsync}, mutual TLS + ACL: {seconds:.2f} s, {rate:,.0f} records/s, "
          f"{rate * args.value_bytes / 1e6:.1f} MB/s of values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
