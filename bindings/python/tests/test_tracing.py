"""Trace context from Python: with opentelemetry-api installed, each call
carries the caller's current span to the server (the real `proglog` binary
exporting its spans to an OTLP/HTTP receiver here), sync and asyncio alike;
without it, or without a current span, nothing is sent."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import proglog
import proglog.aio

from conftest import START_TIMEOUT, ServerProcess, poll

needs_binary = pytest.mark.skipif(
    not os.access(os.environ.get("PROGLOG_BIN", ""), os.X_OK),
    reason="needs the `proglog` binary (PROGLOG_BIN) to export server spans")

TRACER = TracerProvider().get_tracer("proglog-tests")


class OtlpReceiver:
    """An OTLP/HTTP traces receiver (JSON encoding) keeping every span."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    for resource_spans in body["resourceSpans"]:
                        for scope_spans in resource_spans["scopeSpans"]:
                            receiver.spans.extend(scope_spans["spans"])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def server_span(self, trace_id: str, name: str) -> dict[str, Any]:
        def found() -> Any:
            with self._lock:
                return next((s for s in self.spans
                             if s["traceId"] == trace_id and s["name"] == name), None)
        span: dict[str, Any] = poll(found, START_TIMEOUT, f"the {name} span")
        return span

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def traced_server(tmp_path: Path, receiver: OtlpReceiver) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "server",
                            ["--otel-exporter-otlp-endpoint", receiver.endpoint])
    try:
        yield process
    finally:
        process.stop()


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@needs_binary
def test_each_call_continues_the_callers_span(traced_server: ServerProcess,
                                              receiver: OtlpReceiver) -> None:
    assert traced_server.address is not None
    with proglog.Client([traced_server.address], timeout=10.0) as client:
        calls = {
            "log.v1.Log/Produce": lambda: client.produce(b"traced"),
            "log.v1.Batch/ProduceBatch": lambda: client.produce_many([b"a", b"b"]),
            "log.v1.Log/Consume": lambda: client.consume(0),
            "log.v1.Log/GetServers": lambda: client.servers(),
        }
        for name, call in calls.items():
            with TRACER.start_as_current_span(f"caller of {name}") as caller:
                call()
            trace_id, span_id = ids(caller)
            span = receiver.server_span(trace_id, name)
            assert span["parentSpanId"] == span_id, name


@needs_binary
@pytest.mark.asyncio
async def test_asyncio_calls_continue_the_awaiting_tasks_span(
        traced_server: ServerProcess, receiver: OtlpReceiver) -> None:
    assert traced_server.address is not None
    async with proglog.aio.Client([traced_server.address], timeout=10.0) as client:
        with TRACER.start_as_current_span("async caller") as caller:
            await client.produce(b"traced")
    trace_id, span_id = ids(caller)
    assert receiver.server_span(trace_id, "log.v1.Log/Produce")["parentSpanId"] == span_id


def test_without_a_current_span_no_context_is_sent() -> None:
    assert proglog._trace_headers().traceparent is None


def test_with_a_current_span_its_context_is_what_is_sent() -> None:
    with TRACER.start_as_current_span("caller") as caller:
        headers = proglog._trace_headers()
    trace_id, span_id = ids(caller)
    flags = int(caller.get_span_context().trace_flags)
    assert flags & 1  # sampled
    assert headers.traceparent == f"00-{trace_id}-{span_id}-{flags:02x}"


# Run in a fresh interpreter: what `import proglog` loads, and how the package
# behaves where opentelemetry cannot be imported.
_WITHOUT_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
import proglog
with proglog.Node(sys.argv[1]) as node, proglog.Client([node.address], timeout=10.0) as client:
    assert client.produce(b"untraced") == 0
    assert proglog._trace_headers().traceparent is None
print("ok")
"""


def test_importing_proglog_loads_nothing_of_opentelemetry() -> None:
    code = ("import sys, proglog, proglog.aio\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_calls_work_unchanged_without_opentelemetry(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", _WITHOUT_OTEL, str(tmp_path / "node")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
