// The client's trace context (CallOptions::traceparent / tracestate) against a
// real in-process node: every call type reaches the server as a span in the
// caller's trace, and a malformed context is refused before anything is sent.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/client/client.h"
#include "core/node/node.h"
#include "core/telemetry/trace.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::client {
namespace {

using std::chrono::milliseconds;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCallerSpanId[] = "00f067aa0ba902b7";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Keeps every span the node's RPCs end (they end before the reply is sent).
class CollectingSink : public telemetry::SpanSink {
 public:
  void Export(telemetry::SpanData span) override {
    absl::MutexLock lock(&mu_);
    spans_.push_back(std::move(span));
  }
  std::vector<telemetry::SpanData> Spans() {
    absl::MutexLock lock(&mu_);
    return spans_;
  }
  // The one span named `name` (in trace `trace_id` if given); fails the test
  // unless there is exactly one.
  telemetry::SpanData Only(const std::string& name, const std::string& trace_id = "") {
    std::vector<telemetry::SpanData> found;
    for (telemetry::SpanData& span : Spans()) {
      if (span.name == name && (trace_id.empty() || span.context.TraceIdHex() == trace_id)) {
        found.push_back(std::move(span));
      }
    }
    EXPECT_EQ(found.size(), 1u) << name;
    return found.empty() ? telemetry::SpanData{} : found.front();
  }

 private:
  absl::Mutex mu_;
  std::vector<telemetry::SpanData> spans_ ABSL_GUARDED_BY(mu_);
};

std::string Hex(const telemetry::SpanId& id) {
  telemetry::SpanContext context;
  context.span_id = id;
  return context.SpanIdHex();
}

class ClientTraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node::Config config;
    config.data_dir = dir_;
    config.node_name = "n1";
    config.tracer = &tracer_;
    auto opened = node::Node::Open(config);
    ASSERT_TRUE(opened.ok()) << opened.status();
    node_ = *std::move(opened);
    Options options;
    options.addresses = {node_->RpcAddress()};
    options.call_timeout = milliseconds(5000);
    options.refresh_interval = milliseconds(0);  // no GetServers of its own in the way
    auto client = Client::Open(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override {
    client_.reset();
    if (node_) {
      EXPECT_TRUE(node_->Close().ok());
    }
  }

  static CallOptions Traced() {
    CallOptions call;
    call.traceparent = kTraceparent;
    call.tracestate = "vendor=value";
    return call;
  }

  // Checks that `span` is the server span of `method` in the caller's trace.
  static void ExpectContinuesTheCaller(const telemetry::SpanData& span) {
    EXPECT_EQ(span.context.TraceIdHex(), kTraceId) << span.name;
    EXPECT_EQ(Hex(span.parent_span_id), kCallerSpanId) << span.name;
    EXPECT_EQ(span.kind, telemetry::SpanKind::kServer) << span.name;
    EXPECT_EQ(span.context.trace_state, "vendor=value") << span.name;
  }

  CollectingSink sink_;
  telemetry::Tracer tracer_{telemetry::SamplerKind::kParentBasedAlwaysOn, 1, &sink_};
  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown and the members below
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTraceTest, ProduceContinuesTheCallersTraceWithCommitAndFsyncSpans) {
  ASSERT_TRUE(client_->Produce("traced", Traced()).ok());
  const telemetry::SpanData produce = sink_.Only("log.v1.Log/Produce");
  ExpectContinuesTheCaller(produce);
  // A single node with the default durability fsyncs every append.
  const telemetry::SpanData commit = sink_.Only("commit");
  EXPECT_EQ(commit.parent_span_id, produce.context.span_id);
  const telemetry::SpanData fsync = sink_.Only("fsync");
  EXPECT_EQ(fsync.parent_span_id, commit.context.span_id);
  EXPECT_EQ(fsync.context.trace_id, produce.context.trace_id);
  EXPECT_LE(commit.start_unix_nanos, fsync.start_unix_nanos);
  EXPECT_LE(fsync.start_unix_nanos, fsync.end_unix_nanos);
  EXPECT_LE(fsync.end_unix_nanos, commit.end_unix_nanos);
}

TEST_F(ClientTraceTest, ConsumeBatchAndGetServersContinueTheCallersTrace) {
  auto offset = client_->Produce("plain");
  ASSERT_TRUE(offset.ok()) << offset.status();
  ASSERT_TRUE(client_->Consume(*offset, Traced()).ok());
  ExpectContinuesTheCaller(sink_.Only("log.v1.Log/Consume"));
  ASSERT_TRUE(client_->GetServers(Traced()).ok());
  // (The client's own view refreshes ask GetServers too, outside any trace.)
  ExpectContinuesTheCaller(sink_.Only("log.v1.Log/GetServers", kTraceId));
  std::vector<std::string_view> values = {"a", "b"};
  ASSERT_TRUE(client_->ProduceBatch(values, Traced()).ok());
  ExpectContinuesTheCaller(sink_.Only("log.v1.Batch/ProduceBatch"));
}

TEST_F(ClientTraceTest, ACallWithoutContextStartsItsOwnTrace) {
  ASSERT_TRUE(client_->Produce("untraced").ok());
  const telemetry::SpanData produce = sink_.Only("log.v1.Log/Produce");
  EXPECT_NE(produce.context.TraceIdHex(), kTraceId);
  EXPECT_EQ(produce.parent_span_id, telemetry::SpanId{});
}

TEST_F(ClientTraceTest, AMalformedContextIsRefusedNamingTheFieldAndNothingIsSent) {
  struct Case {
    std::string traceparent;
    std::string tracestate;
    std::string field;
  };
  for (const Case& bad : std::vector<Case>{
           {"garbage", "", "traceparent"},
           {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "traceparent"},
           {kTraceparent, "bad\nvalue", "tracestate"},
           {kTraceparent, std::string(513, 'a'), "tracestate"},
           {"", "vendor=value", "tracestate"},
       }) {
    CallOptions call;
    call.traceparent = bad.traceparent;
    call.tracestate = bad.tracestate;
    absl::StatusOr<uint64_t> offset = client_->Produce("never sent", call);
    ASSERT_EQ(offset.status().code(), absl::StatusCode::kInvalidArgument) << offset.status();
    EXPECT_NE(offset.status().message().find(bad.field), std::string_view::npos) << offset.status();
  }
  EXPECT_TRUE(sink_.Spans().empty());
  EXPECT_FALSE(node_->Read(0).ok());  // nothing was appended
}

}  // namespace
}  // namespace proglog::client
