"""Hardening of the binary and the API (issue 15): repeated stop signals, health
through reflection alone, command-line input checks, large records, batches that
are all or nothing, and compatibility with the original's clients."""

import signal
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import harness


# ---- Signals ---------------------------------------------------------------------------------

def test_a_stop_signal_delivered_twice_at_once_is_one_clean_stop(tmp_path):
    node = harness.Node(tmp_path / "d", "--node-name", "n1")
    with node:
        node.proc.send_signal(signal.SIGTERM)
        node.wait_for_event("stopping")
        # What `timeout` or a process-group kill adds: the same stop again, at once.
        node.proc.send_signal(signal.SIGTERM)
        code = node.wait_exit(timeout=harness.STOP_TIMEOUT)
    assert code == 0, node.output()
    assert "second stop signal" not in node.output()
    assert any(e.get("msg") == "stopped" for e in node.events)


# ---- Health through reflection ---------------------------------------------------------------

def reflect_file(pb, ch, symbol):
    """The FileDescriptorProtos reflection returns for `symbol`, as a descriptor pool."""
    reflection = pb.reflection_grpc.ServerReflectionStub(ch)
    request = pb.reflection.ServerReflectionRequest(file_containing_symbol=symbol)
    (answer,) = list(reflection.ServerReflectionInfo(iter([request]),
                                                     timeout=harness.RPC_TIMEOUT))
    assert answer.WhichOneof("message_response") == "file_descriptor_response", answer
    pool = descriptor_pool.DescriptorPool()
    for raw in answer.file_descriptor_response.file_descriptor_proto:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
    return pool


def reflected_health_check(pb, ch, service):
    """grpc.health.v1.Health/Check built from reflection alone, as grpcurl does."""
    pool = reflect_file(pb, ch, "grpc.health.v1.Health")
    method = pool.FindServiceByName("grpc.health.v1.Health").FindMethodByName("Check")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = ch.unary_unary("/grpc.health.v1.Health/Check",
                          request_serializer=request_class.SerializeToString,
                          response_deserializer=response_class.FromString)
    response = call(request_class(service=service), timeout=harness.RPC_TIMEOUT)
    return method.output_type.enum_types_by_name["ServingStatus"].values_by_number[
        response.status].name


def test_reflection_alone_describes_health_and_the_log_service_is_serving(pb, node):
    with harness.channel(node.rpc_addr) as ch:
        assert reflected_health_check(pb, ch, "") == "SERVING"
        assert reflected_health_check(pb, ch, "log.v1.Log") == "SERVING"


# ---- Command-line input ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--offset", "-1"], ["--offset=-1"], ["--offset", "18446744073709551616"],
    ["--count", "-5"], ["--count=-5"], ["--count", "99999999999999999999999"],
])
def test_negative_or_overflowing_offset_or_count_exits_2_naming_it(args):
    result = harness.run_cli("consume", "--addr", "127.0.0.1:1", "--timeout", "1s", *args)
    assert result.returncode == 2, result
    flag = args[0].split("=")[0]
    assert flag in result.stderr.decode(), result.stderr


class RecordingProxy(grpc.GenericRpcHandler):
    """Forwards every call to `upstream` byte for byte (initial metadata too) and
    records which methods were called: what a client did, seen from outside it.
    With `without_batch`, it answers log.v1.Batch calls UNIMPLEMENTED, as an
    original server (one with log.v1 alone) does."""

    def __init__(self, upstream, without_batch=False):
        self.methods = []
        self._without_batch = without_batch
        self._upstream = grpc.insecure_channel(upstream)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers([self])
        self.addr = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def close(self):
        self._server.stop(None)
        self._upstream.close()

    def service(self, details):
        method = details.method
        self.methods.append(method)
        if self._without_batch and method.startswith("/log.v1.Batch/"):
            return None
        if method.endswith(("/ConsumeStream", "/ConsumeBatchStream")):
            return grpc.unary_stream_rpc_method_handler(self._forward_stream(method))
        if method.endswith("/ProduceStream"):
            return None
        return grpc.unary_unary_rpc_method_handler(self._forward_unary(method))

    def _forward_unary(self, method):
        def handle(request, context):
            try:
                response, call = self._upstream.unary_unary(method).with_call(request, timeout=30)
            except grpc.RpcError as error:
                context.send_initial_metadata(error.initial_metadata())
                context.abort(error.code(), error.details())
            context.send_initial_metadata(call.initial_metadata())
            return response
        return handle

    def _forward_stream(self, method):
        def handle(request, context):
            call = self._upstream.unary_stream(method)(request)
            context.add_callback(call.cancel)
            context.send_initial_metadata(call.initial_metadata())
            try:
                yield from call
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:
                    context.abort(error.code(), error.details())
        return handle


def consume_through_proxy(node, values, cli_args, without_batch=False):
    """Produces `values`, then runs `proglog consume` with `cli_args` through a
    RecordingProxy; returns the records it printed and the methods it called."""
    assert harness.run_cli("produce", "--addr", node.rpc_addr, *values).returncode == 0
    proxy = RecordingProxy(node.rpc_addr, without_batch=without_batch)
    try:
        # Pinned: the proxy sees every call (a discovering client would learn the
        # node's own address from GetServers and go around the proxy).
        result = harness.run_cli("consume", "--addr", proxy.addr, "--read-from", "pinned",
                                 *cli_args)
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().split("\n")[:-1], proxy.methods


def test_consume_without_follow_reads_through_one_stream(node):
    values = [f"v{i}" for i in range(20)]
    printed, methods = consume_through_proxy(node, values, ["--offset", "3"])
    assert printed == values[3:]
    assert methods == ["/log.v1.Batch/ConsumeBatchStream"]


@pytest.mark.parametrize("cli_args,first", [(["--offset", "3"], 3),
                                             (["--follow", "--count", "20"], 0)])
def test_a_server_without_the_batch_service_is_read_through_log_v1(node, cli_args, first):
    values = [f"w{i}" for i in range(20)]
    printed, methods = consume_through_proxy(node, values, cli_args, without_batch=True)
    assert printed == values[first:]
    assert methods == ["/log.v1.Batch/ConsumeBatchStream", "/log.v1.Log/ConsumeStream"]


def test_consume_count_stops_early_and_at_the_end_prints_nothing(node):
    assert harness.run_cli("produce", "--addr", node.rpc_addr, "a", "b", "c").returncode == 0
    two = harness.run_cli("consume", "--addr", node.rpc_addr, "--count", "2")
    assert two.returncode == 0 and two.stdout == b"a\nb\n", two
    end = harness.run_cli("consume", "--addr", node.rpc_addr, "--offset", "3")
    assert end.returncode == 0 and end.stdout == b"", end


# ---- Record sizes and batches ----------------------------------------------------------------

def test_produce_with_one_value_too_large_appends_nothing(pb, tmp_path):
    with harness.Node(tmp_path / "d", "--max-record-bytes", "1KiB") as node:
        result = harness.run_cli("produce", "--addr", node.rpc_addr, "p1", "x" * 2000, "p3")
        assert result.returncode == 1, result
        assert result.stdout == b""
        assert "message too large" in result.stderr.decode()
        # The log is still empty: the next record gets offset 0.
        after = harness.run_cli("produce", "--addr", node.rpc_addr, "after")
        assert after.stdout == b"0\n", after


def test_records_over_the_maximum_get_one_code_under_and_over_the_transport_limit(pb, tmp_path):
    """Over max-record-bytes the server refuses; over max-record-bytes plus the
    1 MiB of slack, gRPC refuses before the server sees it: the same code."""
    options = [("grpc.max_send_message_length", -1)]
    with harness.Node(tmp_path / "d", "--max-record-bytes", "1KiB") as node, \
            harness.channel(node.rpc_addr, options=options) as ch:
        stub = pb.log_grpc.LogStub(ch)
        for size in (1025, 3 << 20):
            request = pb.log.ProduceRequest(record=pb.log.Record(value=b"x" * size))
            with pytest.raises(grpc.RpcError) as error:
                stub.Produce(request, timeout=harness.RPC_TIMEOUT)
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, size


def test_cli_reads_back_a_record_larger_than_grpcs_default_limit(tmp_path):
    with harness.Node(tmp_path / "d", "--max-record-bytes", "6MiB") as node:
        value = "z" * (5 << 20)
        produced = harness.run_cli("produce", "--addr", node.rpc_addr, "-", input=value.encode())
        assert produced.returncode == 0, produced.stderr
        consumed = harness.run_cli("consume", "--addr", node.rpc_addr)
        assert consumed.returncode == 0, consumed.stderr[:500]
        assert consumed.stdout == value.encode() + b"\n"


# ---- Compatibility with the original's clients -----------------------------------------------

def rpc_status_module(tmp_path):
    """The probe google.rpc messages, generated at test time."""
    import importlib
    import sys
    from grpc_tools import protoc
    builtin = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    out = tmp_path / "rpc_status_gen"
    out.mkdir()
    protos = harness.PROBE_PROTOS
    assert protoc.main(["protoc", f"-I{protos}", f"-I{builtin}", f"--python_out={out}",
                        str(protos / "probe_rpc_status.proto")]) == 0
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("probe_rpc_status_pb2")
    finally:
        sys.path.remove(str(out))


def past_the_end_error(pb, addr):
    with harness.channel(addr) as ch:
        stub = pb.log_grpc.LogStub(ch)
        with pytest.raises(grpc.RpcError) as error:
            stub.Consume(pb.log.ConsumeRequest(offset=5), timeout=harness.RPC_TIMEOUT)
    return error.value


def localized_detail(rpc, error):
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, "no grpc-status-details-bin trailer"
    status = rpc.Status.FromString(raw)
    (detail,) = status.details
    assert detail.type_url == "type.googleapis.com/google.rpc.LocalizedMessage"
    return status, rpc.LocalizedMessage.FromString(detail.value)


def test_past_the_end_read_is_out_of_range_with_a_localized_message(pb, node, tmp_path):
    rpc = rpc_status_module(tmp_path)
    error = past_the_end_error(pb, node.rpc_addr)
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    status, localized = localized_detail(rpc, error)
    assert status.code == grpc.StatusCode.OUT_OF_RANGE.value[0]
    assert localized.locale == "en-US" and "5" in localized.message


def test_compat_original_codes_makes_past_the_end_reads_404(pb, tmp_path):
    rpc = rpc_status_module(tmp_path)
    with harness.Node(tmp_path / "d", "--compat-original-codes") as node:
        error = past_the_end_error(pb, node.rpc_addr)
    assert error.code() != grpc.StatusCode.OUT_OF_RANGE
    status, localized = localized_detail(rpc, error)
    assert status.code == 404
    assert localized.locale == "en-US"
