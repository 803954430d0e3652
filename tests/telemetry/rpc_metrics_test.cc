// The grpc_server_* series of a real server over a real log: the handlers
// record our methods (unary and streaming, malformed requests of log.v1.Log and
// log.v1.Batch included), and
// the narrow interceptor records gRPC's own health service and method paths
// no service has.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "core/log/log.h"
#include "core/server/local_commit_log.h"
#include "core/server/server.h"
#include "core/telemetry/metrics.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::telemetry {
namespace {

// The value of the line of `text` whose series is exactly `series`.
std::optional<double> Value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      double value = 0;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
    }
  }
  return std::nullopt;
}

std::string Series(const std::string& family, const std::string& service, const std::string& method,
                   const std::string& type, const std::string& code = "") {
  std::string series = family + "{grpc_method=\"" + method + "\",grpc_service=\"" + service +
                       "\",grpc_type=\"" + type + "\"";
  if (!code.empty()) series += ",grpc_code=\"" + code + "\"";
  return series + "}";
}

class RpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<log::Log>> log = log::Log::Open(dir_, log::Options{});
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    commit_log_ = std::make_unique<server::LocalCommitLog>(log_.get());
    server::Options options;
    options.metrics = &registry_;
    absl::StatusOr<std::unique_ptr<server::Server>> server =
        server::Server::Start(commit_log_.get(), std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->Address(), grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (commit_log_ != nullptr) commit_log_->Stop();
    if (log_ != nullptr) (void)log_->Close();
  }

  // A unary call of `method` with `body` as the raw request bytes.
  grpc::Status RawCall(const std::string& method, const std::string& body) {
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext context;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    return done.get_future().get();
  }

  Registry registry_;
  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<server::LocalCommitLog> commit_log_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RpcMetricsTest, UnaryCallsAreCountedByCode) {
  auto stub = logpb::v1::Log::NewStub(channel_);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    logpb::v1::ProduceRequest request;
    request.mutable_record()->set_value("v");
    logpb::v1::ProduceResponse response;
    ASSERT_TRUE(stub->Produce(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(99);
    logpb::v1::ConsumeResponse response;
    EXPECT_EQ(stub->Consume(&context, request, &response).error_code(),
              grpc::StatusCode::OUT_OF_RANGE);
  }
  const std::string text = registry_.RenderText();
  const std::string log = "log.v1.Log";
  EXPECT_EQ(Value(text, Series("grpc_server_started_total", log, "Produce", "unary")), 3);
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", log, "Produce", "unary", "OK")), 3);
  EXPECT_EQ(Value(text, Series("grpc_server_msg_received_total", log, "Produce", "unary")), 3);
  EXPECT_EQ(Value(text, Series("grpc_server_msg_sent_total", log, "Produce", "unary")), 3);
  EXPECT_EQ(Value(text, Series("grpc_server_handling_seconds_count", log, "Produce", "unary")), 3);
  // A failed unary call sends no response message.
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", log, "Consume", "unary", "OutOfRange")),
            1);
  EXPECT_EQ(Value(text, Series("grpc_server_msg_sent_total", log, "Consume", "unary")), 0);
}

TEST_F(RpcMetricsTest, StreamsCountEveryMessage) {
  auto stub = logpb::v1::Log::NewStub(channel_);
  {
    grpc::ClientContext context;
    auto stream = stub->ProduceStream(&context);
    for (int i = 0; i < 5; ++i) {
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value("s");
      ASSERT_TRUE(stream->Write(request));
      logpb::v1::ProduceResponse response;
      ASSERT_TRUE(stream->Read(&response));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  {
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(0);
    auto stream = stub->ConsumeStream(&context, request);
    logpb::v1::ConsumeResponse response;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream->Read(&response));
    context.TryCancel();
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The server records a stream's end just before it finishes it: wait for
  // the cancelled ConsumeStream's count.
  const std::string consume_cancelled = Series("grpc_server_handled_total", "log.v1.Log",
                                               "ConsumeStream", "server_stream", "Canceled");
  std::string text = registry_.RenderText();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Value(text, consume_cancelled) != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    text = registry_.RenderText();
  }
  const std::string log = "log.v1.Log";
  const std::string bidi = "bidi_stream";
  EXPECT_EQ(Value(text, Series("grpc_server_started_total", log, "ProduceStream", bidi)), 1);
  EXPECT_EQ(Value(text, Series("grpc_server_msg_received_total", log, "ProduceStream", bidi)), 5);
  EXPECT_EQ(Value(text, Series("grpc_server_msg_sent_total", log, "ProduceStream", bidi)), 5);
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", log, "ProduceStream", bidi, "OK")), 1);
  const std::string server_stream = "server_stream";
  EXPECT_EQ(
      Value(text, Series("grpc_server_msg_received_total", log, "ConsumeStream", server_stream)),
      1);
  EXPECT_GE(Value(text, Series("grpc_server_msg_sent_total", log, "ConsumeStream", server_stream))
                .value_or(0),
            5);
}

TEST_F(RpcMetricsTest, MalformedRequestsHealthChecksAndUnknownMethodsAreCounted) {
  // Field 1 (record) announcing 127 bytes and carrying fewer: not a ProduceRequest.
  EXPECT_EQ(RawCall("/log.v1.Log/Produce",
                    "\x0a\x7f"
                    "only a few bytes")
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // An empty HealthCheckRequest asks about the server as a whole.
  EXPECT_TRUE(RawCall("/grpc.health.v1.Health/Check", "").ok());
  EXPECT_EQ(RawCall("/log.v1.Log/NoSuchMethod", "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = registry_.RenderText();
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", "log.v1.Log", "Produce", "unary",
                               "InvalidArgument")),
            1)
      << text;
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", "grpc.health.v1.Health", "Check",
                               "unary", "OK")),
            1)
      << text;
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", "unknown", "unknown", "unary",
                               "Unimplemented")),
            1)
      << text;
}

// A server-streaming call of `method` with `body` as the raw request bytes,
// read to its end.
grpc::Status RawStreamCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                           const std::string& body) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  grpc::CompletionQueue queue;
  void* tag = nullptr;
  bool ok = false;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &queue);
  call->StartCall(reinterpret_cast<void*>(1));
  queue.Next(&tag, &ok);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  queue.Next(&tag, &ok);
  grpc::ByteBuffer response;
  do {
    call->Read(&response, reinterpret_cast<void*>(3));
    queue.Next(&tag, &ok);
  } while (ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(RpcMetricsTest, MalformedBatchRequestsAreRefusedAndCounted) {
  // Field 1 announcing 127 bytes and carrying fewer: no message of batch.proto.
  const std::string truncated =
      "\x0a\x7f"
      "only a few bytes";
  const grpc::Status produce = RawCall("/log.v1.Batch/ProduceBatch", truncated);
  EXPECT_EQ(produce.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(produce.error_message().find("log.v1.ProduceBatchRequest"), std::string::npos)
      << produce.error_message();
  EXPECT_EQ(RawCall("/log.v1.Batch/ConsumeBatch", truncated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RawStreamCall(channel_, "/log.v1.Batch/ConsumeBatchStream", truncated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const std::string text = registry_.RenderText();
  const std::string batch = "log.v1.Batch";
  for (const char* method : {"ProduceBatch", "ConsumeBatch"}) {
    EXPECT_EQ(Value(text, Series("grpc_server_started_total", batch, method, "unary")), 1)
        << method << "\n"
        << text;
    EXPECT_EQ(
        Value(text, Series("grpc_server_handled_total", batch, method, "unary", "InvalidArgument")),
        1)
        << method << "\n"
        << text;
  }
  EXPECT_EQ(Value(text, Series("grpc_server_handled_total", batch, "ConsumeBatchStream",
                               "server_stream", "InvalidArgument")),
            1)
      << text;
  // Nothing reached the log.
  EXPECT_EQ(log_->NextOffset(), 0u);
}

}  // namespace
}  // namespace proglog::telemetry
