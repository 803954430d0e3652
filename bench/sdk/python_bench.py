#!/usr/bin/env python3
"""Per-operation cost of the proglog Python client against grpcio calling the
same server directly (stubs generated from proto/log/v1/log.proto).

Usage: python_bench.py --proglog-bin BUILD/server/proglog [--ops N] [--batch N]
Needs the proglog package (bindings/python/run-tests.sh installs it into
BUILD/python-venv) plus grpcio and grpcio-tools in the same interpreter.
The server runs with --fsync never so the figures show client cost, not disk.
Prints a table of mean and p99 latency per operation and the ratio ours/grpcio;
the subscribe row reads the records the produce rows wrote, over one stream.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import grpc
import proglog

REPO = Path(__file__).resolve().parents[2]


def start_server(binary: str, data_dir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([binary, "serve", "--bootstrap", "--data-dir", data_dir, "--rpc-port", "0",
                             "--node-name", "bench", "--log-format", "json", "--fsync", "never"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("msg") == "serving":
            return proc, event["rpc_addr"]
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("server did not start")


def generate_stubs(out: Path):  # type: ignore[no-untyped-def]
    from grpc_tools import protoc

    builtin = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    proto_root = REPO / "proto"
    out.mkdir(parents=True, exist_ok=True)
    if protoc.main(["protoc", f"-I{proto_root}", f"-I{builtin}", f"--python_out={out}",
                    f"--grpc_python_out={out}", str(proto_root / "log/v1/log.proto")]) != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, str(out))
    return (importlib.import_module("log.v1.log_pb2"),
            importlib.import_module("log.v1.log_pb2_grpc"))


def measure(op: Callable[[int], object], n: int) -> list[float]:
    for i in range(min(200, n)):  # warm-up: connections, caches
        op(i)
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        op(i)
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    return samples


def row(name: str, ours: list[float], theirs: list[float], per: int = 1) -> None:
    def p99(xs: list[float]) -> float:
        return sorted(xs)[int(len(xs) * 0.99) - 1]

    om, tm = statistics.mean(ours) / per, statistics.mean(theirs) / per
    print(f"{name:<28} {om:10.1f} {p99(ours) / per:10.1f} {tm:10.1f} {p99(theirs) / per:10.1f}"
          f" {om / tm:7.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proglog-bin", required=True)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log_pb2, log_grpc = generate_stubs(Path(tmp) / "gen")
        proc, addr = start_server(args.proglog_bin, str(Path(tmp) / "data"))
        try:
            client = proglog.Client([addr])
            channel = grpc.insecure_channel(addr)
            stub = log_grpc.LogStub(channel)
            value = b"x" * 100

            def grpc_produce(_: int) -> object:
                return stub.Produce(log_pb2.ProduceRequest(record=log_pb2.Record(value=value)))

            def grpc_consume(i: int) -> object:
                return stub.Consume(log_pb2.ConsumeRequest(offset=i))

            def grpc_batch(_: int) -> object:
                requests = (log_pb2.ProduceRequest(record=log_pb2.Record(value=value))
                            for _ in range(args.batch))
                return [r.offset for r in stub.ProduceStream(requests)]

            batch = [value] * args.batch
            batches = max(5, args.ops // args.batch * 4)
            print(f"server {addr} (--fsync never), {args.ops} ops, 100-byte records;"
                  f" batch = {args.batch} records, {batches} batches; times in microseconds")
            print(f"{'operation':<28} {'ours mean':>10} {'ours p99':>10} {'grpc mean':>10}"
                  f" {'grpc p99':>10} {'ratio':>8}")
            row("produce", measure(lambda _: client.produce(value), args.ops),
                measure(grpc_produce, args.ops))
            # grpcio reads first, so any first-touch cost on the server is not ours.
            theirs = measure(grpc_consume, args.ops)
            row("consume", measure(lambda i: client.consume(i), args.ops), theirs)
            row("batch produce (per record)",
                measure(lambda _: client.produce_many(batch), batches),
                measure(grpc_batch, batches), per=args.batch)
            # Reading the records produced above from offset 0 over one stream:
            # the time of each next() (ours: log.v1.Batch's ConsumeBatchStream
            # underneath; grpcio: log.v1 ConsumeStream).
            subscription = client.subscribe(0)
            ours_next = iter(subscription)
            theirs_next = stub.ConsumeStream(log_pb2.ConsumeRequest(offset=0))
            row("subscribe (per record)", measure(lambda _: next(ours_next), args.ops),
                measure(lambda _: next(theirs_next), args.ops))
            subscription.close()
            theirs_next.cancel()
            client.close()
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
