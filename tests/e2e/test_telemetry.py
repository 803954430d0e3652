"""Observability of a real proglog process: its /metrics endpoint checked by
promtool and scraped by a real Prometheus server, its traces received over
OTLP/HTTP, and its JSON log lines joined to those traces."""

import http.server
import json
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import grpc
import pytest

import harness
import pki
from acl_files import MODEL_CONF, POLICY_CSV

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


def http_get(url, timeout=10):
    """(status, body) of a GET, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(node):
    return scrape_at(node.metrics_addr)


def scrape_at(metrics_addr):
    status, body = http_get(f"http://{metrics_addr}/metrics")
    assert status == 200
    return body


def sample(text, name, **labels):
    """The value of the series `name` whose labels include `labels`; None if absent."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


def dashboard_queries():
    """The dashboard's PromQL with Grafana's variables replaced by what they stand for."""
    dashboard = json.loads((harness.REPO_ROOT / "deploy/observability/grafana-dashboard.json")
                           .read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield (target["expr"].replace("$__rate_interval", "1m")
                   .replace("$job", ".*").replace("$instance", ".*"))


def produce(pb, stub, value, metadata=None):
    return stub.Produce(pb.log.ProduceRequest(record=pb.log.Record(value=value)),
                        metadata=metadata, timeout=harness.RPC_TIMEOUT).offset


class ObservedNode(harness.Node):
    """A node serving /metrics on a free port; metrics_addr is what it logged."""

    def __init__(self, data_dir, *args, env=None):
        super().__init__(data_dir, "--metrics-addr", "127.0.0.1:0", *args, env=env)
        self.metrics_addr = None

    def wait_serving(self):
        super().wait_serving()
        self.metrics_addr = self.wait_for_event("serving")["metrics_addr"]
        return self


class OtlpReceiver:
    """A minimal OTLP/HTTP traces receiver: accepts POST /v1/traces with the
    JSON encoding and keeps every span, with its resource attributes."""

    def __init__(self):
        self.spans = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = (self.path == "/v1/traces"
                      and self.headers["Content-Type"] == "application/json")
                if ok:
                    receiver.add(json.loads(body))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request):
        with self.cond:
            for resource_spans in request["resourceSpans"]:
                resource = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        self.spans.append((resource, span))
            self.cond.notify_all()

    def wait_for(self, predicate, what):
        def found():
            with self.cond:
                return [span for _, span in self.spans if predicate(span)]
        return harness.poll(found, harness.START_TIMEOUT, what)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_metrics_endpoint_counts_produces_and_passes_promtool(pb, tmp_path):
    with ObservedNode(tmp_path / "data") as node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        for i in range(100):
            produce(pb, stub, f"record {i}".encode())
        text = scrape(node)
        assert sample(text, "grpc_server_handled_total", grpc_service="log.v1.Log",
                      grpc_method="Produce", grpc_type="unary", grpc_code="OK") == 100
        assert sample(text, "grpc_server_started_total", grpc_method="Produce") == 100
        assert sample(text, "grpc_server_msg_received_total", grpc_method="Produce") == 100
        assert sample(text, "grpc_server_handling_seconds_count", grpc_method="Produce") == 100
        assert sample(text, "proglog_raft_is_leader") == 1
        assert sample(text, "process_resident_memory_bytes") > 0
        assert sample(text, "process_open_fds") > 0
        assert sample(text, "proglog_log_fsync_seconds_count") > 0
        assert sample(text, "proglog_data_dir_free_bytes") > 0
        checked = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text,
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0 and checked.stdout + checked.stderr == "", (
            checked.stdout + checked.stderr)


def test_health_and_readiness_probes_answer(tmp_path):
    with ObservedNode(tmp_path / "data") as node:
        assert http_get(f"http://{node.metrics_addr}/healthz")[0] == 200
        assert http_get(f"http://{node.metrics_addr}/readyz")[0] == 200


def test_a_prometheus_server_scrapes_the_produce_count(pb, tmp_path):
    produced = 37
    with ObservedNode(tmp_path / "data") as node, harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        for i in range(produced):
            produce(pb, stub, f"record {i}".encode())
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: proglog\n"
            f"    static_configs:\n      - targets: ['{node.metrics_addr}']\n")
        web_port = harness.free_port()
        prometheus = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{web_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            query = urllib.parse.urlencode({
                "query": 'sum(grpc_server_handled_total{grpc_method="Produce",grpc_code="OK"})'})

            def produce_count():
                try:
                    status, body = http_get(f"http://127.0.0.1:{web_port}/api/v1/query?{query}")
                except OSError:
                    return None  # not listening yet
                result = json.loads(body)["data"]["result"] if status == 200 else []
                return float(result[0]["value"][1]) if result else None

            count = harness.poll(produce_count, 60, "Prometheus to scrape the node")
            assert count == produced
            # Every query of the Grafana dashboard is valid PromQL over these series.
            for expr in dashboard_queries():
                q = urllib.parse.urlencode({"query": expr})
                status, body = http_get(f"http://127.0.0.1:{web_port}/api/v1/query?{q}")
                assert status == 200 and json.loads(body)["status"] == "success", (expr, body)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)


def test_a_traced_produce_reaches_the_otlp_receiver_in_the_callers_trace(pb, tmp_path):
    with OtlpReceiver() as receiver, ObservedNode(
            tmp_path / "data", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                    "OTEL_SERVICE_NAME": "proglog-e2e"}) as node, \
            harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        produce(pb, stub, b"traced", metadata=[("traceparent", TRACEPARENT),
                                               ("tracestate", "vendor=value")])
        [server_span] = receiver.wait_for(
            lambda s: s["traceId"] == TRACE_ID and s["name"] == "log.v1.Log/Produce",
            "the Produce server span")
        assert server_span["parentSpanId"] == PARENT_SPAN_ID
        assert server_span["kind"] == 2  # SERVER
        assert server_span["traceState"] == "vendor=value"
        [commit] = receiver.wait_for(
            lambda s: s["traceId"] == TRACE_ID and s["name"] == "commit", "the commit span")
        assert commit["parentSpanId"] == server_span["spanId"]
        # The leader's fsync of the record, inside the Raft commit.
        [fsync] = receiver.wait_for(
            lambda s: s["traceId"] == TRACE_ID and s["name"] == "fsync", "the fsync span")
        assert fsync["parentSpanId"] == commit["spanId"]
        assert (int(commit["startTimeUnixNano"]) <= int(fsync["startTimeUnixNano"])
                <= int(fsync["endTimeUnixNano"]) <= int(commit["endTimeUnixNano"]))
        resource = next(r for r, s in receiver.spans if s is server_span)
        assert resource["service.name"] == {"stringValue": "proglog-e2e"}


def test_streams_and_get_servers_are_traced_one_span_per_call(pb, tmp_path):
    with OtlpReceiver() as receiver, ObservedNode(
            tmp_path / "data", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}) as node, \
            harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)

        def traced(span_id):
            return [("traceparent", f"00-{TRACE_ID}-{span_id}-01")]

        requests = [pb.log.ProduceRequest(record=pb.log.Record(value=b"streamed %d" % i))
                    for i in range(3)]
        replies = list(stub.ProduceStream(iter(requests), metadata=traced("00000000000000a1"),
                                          timeout=harness.RPC_TIMEOUT))
        assert len(replies) == 3
        # The stream tails until its deadline ends it, after every record went out.
        received = []
        with pytest.raises(grpc.RpcError) as ended:
            for response in stub.ConsumeStream(pb.log.ConsumeRequest(offset=0),
                                               metadata=traced("00000000000000a2"), timeout=2):
                received.append(response.record.value)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert len(received) == 3
        stub.GetServers(pb.log.GetServersRequest(), metadata=traced("00000000000000a3"),
                        timeout=harness.RPC_TIMEOUT)

        def one(name, parent):
            [span] = receiver.wait_for(
                lambda s: s["traceId"] == TRACE_ID and s["name"] == name, f"the {name} span")
            assert span["parentSpanId"] == parent
            assert span["kind"] == 2  # SERVER
            return {a["key"]: a["value"] for a in span["attributes"]}

        produced = one("log.v1.Log/ProduceStream", "00000000000000a1")
        assert produced["proglog.records_appended"] == {"intValue": "3"}
        sent = one("log.v1.Log/ConsumeStream", "00000000000000a2")
        assert sent["proglog.records_sent"] == {"intValue": "3"}
        one("log.v1.Log/GetServers", "00000000000000a3")


def test_produces_keep_working_with_the_trace_endpoint_down_and_drops_are_counted(pb, tmp_path):
    nobody = f"http://127.0.0.1:{harness.free_port()}"
    with ObservedNode(tmp_path / "data", "--otel-exporter-otlp-endpoint", nobody,
                      "--otel-traces-sampler", "always_on") as node, \
            harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        offsets = [produce(pb, stub, f"record {i}".encode()) for i in range(20)]
        assert offsets == list(range(offsets[0], offsets[0] + 20))

        def dropped():
            value = sample(scrape(node), "proglog_trace_spans_dropped_total",
                           reason="export_failed")
            return value if value and value >= 20 else None

        harness.poll(dropped, harness.START_TIMEOUT, "the failed exports to be counted")
        assert sample(scrape(node), "proglog_trace_spans_exported_total") == 0


def test_json_log_lines_inside_a_traced_request_carry_its_ids(pb, tmp_path):
    with OtlpReceiver() as receiver, ObservedNode(
            tmp_path / "data", "--log-level", "debug",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}) as node, \
            harness.channel(node.rpc_addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        with pytest.raises(grpc.RpcError) as refused:
            # A request without a record is refused.
            stub.Produce(pb.log.ProduceRequest(), metadata=[("traceparent", TRACEPARENT)],
                         timeout=harness.RPC_TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        [span] = receiver.wait_for(lambda s: s["traceId"] == TRACE_ID, "the refused Produce span")
        assert span["status"]["code"] == 2  # ERROR

        def joined_line():
            with node._cond:
                return [e for e in node.events if e.get("trace_id") == TRACE_ID]

        [line] = harness.poll(joined_line, harness.START_TIMEOUT, "a log line with the trace id")
        assert line["span_id"] == span["spanId"]
        assert line["level"] == "debug" and "Produce failed" in line["msg"]


def test_every_json_log_line_has_the_stable_keys(tmp_path):
    with harness.Node(tmp_path / "data", "--node-name", "keys-node") as node:
        with node._cond:
            events = list(node.events)
            lines = list(node.lines)
    assert len(events) == len(lines), "a line that is not a JSON object"
    for event in events:
        assert list(event)[:4] == ["ts", "level", "node", "msg"], event
        assert event["node"] == "keys-node"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["ts"]), event


def test_an_unknown_sampler_is_refused_naming_the_setting(tmp_path):
    node = harness.Node(tmp_path / "data", "--otel-traces-sampler", "sometimes").start()
    assert node.wait_exit() != 0
    assert "otel-traces-sampler" in node.output()


def test_refusals_connections_gossip_and_bytes_are_counted(pb, tmp_path):
    folder = tmp_path / "pki"
    ca = pki.Ca(folder / "cluster")
    server = ca.issue("server", "serverAuth", hosts=("127.0.0.1", "localhost"))
    root, nobody = ca.issue("root", "clientAuth"), ca.issue("nobody", "clientAuth")
    stranger = pki.Ca(folder / "other", common_name="some other CA").issue("root", "clientAuth")
    model, policy = tmp_path / "model.conf", tmp_path / "policy.csv"
    model.write_text(MODEL_CONF)
    policy.write_text(POLICY_CSV)
    tls = ("--server-tls-cert-file", server.cert, "--server-tls-key-file", server.key,
           "--server-tls-ca-file", ca.cert, "--acl-model-file", model,
           "--acl-policy-file", policy)

    def channel(client):
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca.cert.read_bytes(),
            private_key=client.key.read_bytes() if client else None,
            certificate_chain=client.cert.read_bytes() if client else None)
        return grpc.secure_channel(node.rpc_addr, creds)

    def refused(client, code):
        with channel(client) as ch, pytest.raises(grpc.RpcError) as error:
            produce(pb, pb.log_grpc.LogStub(ch), b"refused")
        assert error.value.code() == code, error.value

    with ObservedNode(tmp_path / "data", *tls) as node:
        values = [b"x" * 100, b"y" * 250, b""]
        with channel(root) as ch:
            for value in values:
                produce(pb, pb.log_grpc.LogStub(ch), value)
        refused(nobody, grpc.StatusCode.PERMISSION_DENIED)
        refused(None, grpc.StatusCode.UNAVAILABLE)        # no client certificate
        refused(stranger, grpc.StatusCode.UNAVAILABLE)    # a certificate from another CA
        text = scrape(node)
        assert sample(text, "proglog_acl_refusals_total", reason="permission_denied") == 1, text
        assert sample(text, "proglog_acl_refusals_total", reason="unauthenticated") == 0
        assert sample(text, "proglog_tls_handshake_failures_total", reason="no_certificate") >= 1
        assert sample(text, "proglog_tls_handshake_failures_total",
                      reason="untrusted_certificate") >= 1
        # Two channels got in (root's and nobody's); three more were refused in TLS.
        assert sample(text, "proglog_mux_connections_total", kind="grpc") >= 4
        assert sample(text, "proglog_mux_connections_total", kind="raft") == 0
        # The node's own Raft entries (its configuration) are in the log too.
        appended = sample(text, "proglog_log_appended_bytes_total")
        assert sum(map(len, values)) <= appended < sum(map(len, values)) + 1024, appended
        assert sample(text, "proglog_gossip_probe_failures_total") == 0
        assert sample(text, "proglog_gossip_sent_bytes_total", transport="udp") is not None
        checked = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text,
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0 and checked.stdout + checked.stderr == "", (
            checked.stdout + checked.stderr)


def test_gossip_traffic_between_two_nodes_is_counted(pb, tmp_path):
    cluster = harness.Cluster(tmp_path, "--metrics-addr", "127.0.0.1:0", pb=pb)
    with cluster:
        cluster.start("n1", "n2")
        cluster.wait_formed()
        for name in ("n1", "n2"):
            node = cluster.nodes[name]
            text = scrape_at(node.wait_for_event("serving")["metrics_addr"])
            assert sample(text, "proglog_gossip_sent_bytes_total", transport="udp") > 0, name
            assert sample(text, "proglog_gossip_received_bytes_total", transport="udp") > 0, name
            assert sample(text, "proglog_mux_connections_total", kind="raft") >= 1, name
