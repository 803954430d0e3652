// Each node its own tracer: two Raft nodes (each its own one-voter cluster) in
// one process, the first exporting to a real OTLP/HTTP receiver on loopback,
// the second with tracing off. The first node's produce spans arrive (server
// span, Raft commit, the fsync inside it) under its own service and node name;
// the second node's never do, though its callers ask for sampling.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/node/node.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/otlp_receiver.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node {
namespace {

constexpr char kTracedTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kUntracedTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kCallerSpanId[] = "00f067aa0ba902b7";

using ::proglog::testing::OtlpReceiver;
using ::proglog::testing::ReceivedSpan;

using ::proglog::testing::PollUntil;

std::vector<ReceivedSpan> InTrace(const std::vector<ReceivedSpan>& spans,
                                  const std::string& trace_id) {
  std::vector<ReceivedSpan> found;
  for (const ReceivedSpan& span : spans) {
    if (span.span["traceId"] == trace_id) found.push_back(span);
  }
  return found;
}

const ReceivedSpan* Named(const std::vector<ReceivedSpan>& spans, const std::string& name) {
  for (const ReceivedSpan& span : spans) {
    if (span.span["name"] == name) return &span;
  }
  return nullptr;
}

class NodeTraceTest : public ::testing::Test {
 protected:
  void TearDown() override { CloseAll(); }

  static Config ClusterConfig(const std::filesystem::path& dir, const std::string& name) {
    Config config;
    config.data_dir = dir / name;
    config.node_name = name;
    config.cluster.enabled = true;
    config.cluster.bind_addr = "127.0.0.1:0";
    config.cluster.bootstrap = true;
    config.cluster.heartbeat_interval = std::chrono::milliseconds(20);
    config.cluster.election_timeout = std::chrono::milliseconds(200);
    return config;
  }

  Node* Open(Config config) {
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(std::move(config));
    if (!node.ok()) {
      ADD_FAILURE() << node.status();
      return nullptr;
    }
    nodes_.push_back(*std::move(node));
    return nodes_.back().get();
  }

  // Closing a node flushes its exporter: whatever it would send has been sent.
  void CloseAll() {
    for (auto& node : nodes_) EXPECT_TRUE(node->Close().ok());
    nodes_.clear();
  }

  // A Produce in the caller's trace `trace_id`, sampled.
  static void ProduceTraced(const Node& node, const std::string& trace_id) {
    auto stub = logpb::v1::Log::NewStub(
        grpc::CreateChannel(node.RpcAddress(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("traceparent", "00-" + trace_id + "-" + kCallerSpanId + "-01");
    logpb::v1::ProduceRequest request;
    request.mutable_record()->set_value("traced?");
    logpb::v1::ProduceResponse response;
    const grpc::Status status = stub->Produce(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(NodeTraceTest, EachNodeTracesWithItsOwnTracerOrNotAtAll) {
  OtlpReceiver receiver;
  Config traced_config = ClusterConfig(dir_, "traced");
  traced_config.telemetry.tracing.traces_endpoint = receiver.Url();
  traced_config.telemetry.tracing.service_name = "proglog-traced";
  traced_config.telemetry.tracing.schedule_delay_ms = 20;
  Node* traced = Open(std::move(traced_config));
  ASSERT_NE(traced, nullptr);
  // Started last: with a process-wide tracer it would have taken the first's.
  Node* untraced = Open(ClusterConfig(dir_, "untraced"));
  ASSERT_NE(untraced, nullptr);

  ProduceTraced(*untraced, kUntracedTraceId);
  ProduceTraced(*traced, kTracedTraceId);
  ProduceTraced(*untraced, kUntracedTraceId);
  ASSERT_TRUE(PollUntil([&] {
    const std::vector<ReceivedSpan> spans = InTrace(receiver.Spans(), kTracedTraceId);
    return Named(spans, "fsync") != nullptr && Named(spans, "log.v1.Log/Produce") != nullptr;
  }));
  CloseAll();

  const std::vector<ReceivedSpan> spans = receiver.Spans();
  EXPECT_TRUE(InTrace(spans, kUntracedTraceId).empty())
      << "the untraced node's produces were exported";
  const std::vector<ReceivedSpan> traced_spans = InTrace(spans, kTracedTraceId);
  const ReceivedSpan* produce = Named(traced_spans, "log.v1.Log/Produce");
  const ReceivedSpan* commit = Named(traced_spans, "commit");
  const ReceivedSpan* fsync = Named(traced_spans, "fsync");
  ASSERT_NE(produce, nullptr);
  ASSERT_NE(commit, nullptr);
  ASSERT_NE(fsync, nullptr);
  EXPECT_EQ(produce->span["parentSpanId"], kCallerSpanId);
  EXPECT_EQ(commit->span["parentSpanId"], produce->span["spanId"]);
  // The Raft persist's fsync, inside the commit.
  EXPECT_EQ(fsync->span["parentSpanId"], commit->span["spanId"]);
  EXPECT_LE(std::stoull(commit->span["startTimeUnixNano"].get<std::string>()),
            std::stoull(fsync->span["startTimeUnixNano"].get<std::string>()));
  EXPECT_LE(std::stoull(fsync->span["endTimeUnixNano"].get<std::string>()),
            std::stoull(commit->span["endTimeUnixNano"].get<std::string>()));
  for (const ReceivedSpan& span : traced_spans) {
    EXPECT_EQ(span.resource.at("service.name"), "proglog-traced") << span.span["name"];
    EXPECT_EQ(span.resource.at("service.instance.id"), "traced") << span.span["name"];
  }
}

TEST_F(NodeTraceTest, ATracerOfItsOwnAndATraceEndpointAreRefused) {
  class NoSink final : public telemetry::SpanSink {
    void Export(telemetry::SpanData) override {}
  } sink;
  telemetry::Tracer tracer(telemetry::SamplerKind::kAlwaysOn, 1, &sink);
  Config config = ClusterConfig(dir_, "both");
  config.tracer = &tracer;
  config.telemetry.tracing.traces_endpoint = "http://127.0.0.1:1/v1/traces";
  const absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(std::move(config));
  EXPECT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument) << node.status();
}

}  // namespace
}  // namespace proglog::node
