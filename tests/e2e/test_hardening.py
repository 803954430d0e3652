"""Hardening of the binary and the API (issue 15): repeated stop signals, health
through reflection alone, command-line input checks, large records, batches that
are all or nothing, and compatibility with the original's clients."""

import os
import signal
import time

import grpc
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
