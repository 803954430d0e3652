// Tests of the log.v1.Batch service (core/server/batch_service) and of the
// client calls over it (core/client/batch_rpc), through a real gRPC channel on
// loopback to a Server over a LocalCommitLog of a real Log on disk, or over
// FakeCommitLog where the commit log must act as a follower.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/client/batch_rpc.h"
#include "core/log/log.h"
#include "core/server/local_commit_log.h"
#include "core/server/server.h"
#include "core/telemetry/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/server/fake_commit_log.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::server {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMaxRecordBytes = uint64_t{64} * 1024;

std::vector<std::string> Values(int count, const std::string& prefix, size_t pad = 0) {
  std::vector<std::string> values;
  for (int i = 0; i < count; ++i) values.push_back(absl::StrCat(prefix, i, std::string(pad, 'v')));
  return values;
}

class BatchServiceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    commit_log_.reset();
    fake_.reset();
    if (log_ != nullptr) (void)log_->Close();
  }

  void StartServer(Options options = {}) {
    log::Options log_options;
    log_options.max_record_bytes = kMaxRecordBytes;
    log_options.durability.mode = log::Durability::Mode::kNever;
    absl::StatusOr<std::unique_ptr<log::Log>> log = log::Log::Open(dir_ / "log", log_options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    commit_log_ = std::make_unique<LocalCommitLog>(log_.get());
    options.max_record_bytes = kMaxRecordBytes;
    StartServerOver(commit_log_.get(), std::move(options));
  }

  void StartFakeServer() {
    fake_ = std::make_unique<testing::FakeCommitLog>();
    StartServerOver(fake_.get(), {});
  }

  void StartServerOver(CommitLog* commit_log, Options options) {
    options.node_id = "batch-node";
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(commit_log, std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ =
        grpc::CreateCustomChannel(server_->Address(), grpc::InsecureChannelCredentials(), args);
    stub_ = client::NewBatchStub(channel_);
    log_stub_ = logpb::v1::Log::NewStub(channel_);
  }

  uint64_t Next() { return fake_ != nullptr ? fake_->NextOffset() : log_->NextOffset(); }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<LocalCommitLog> commit_log_;
  std::unique_ptr<testing::FakeCommitLog> fake_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<logpb::v1::Batch::StubInterface> stub_;
  std::unique_ptr<logpb::v1::Log::Stub> log_stub_;
};

TEST_F(BatchServiceTest, ProduceBatchReturnsTheBaseOffsetAndConsumeBatchReadsEveryRecordBack) {
  StartServer();
  std::vector<std::string> all;
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<std::string> values = Values(batch * 7 + 1, absl::StrCat("b", batch, "-"), batch);
    client::BatchCall call;
    absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, values, &call);
    ASSERT_TRUE(base.ok()) << base.status();
    EXPECT_EQ(*base, all.size());
    EXPECT_EQ(call.max_record_bytes, kMaxRecordBytes);
    EXPECT_EQ(call.max_batch_bytes, Options().max_batch_bytes);
    all.insert(all.end(), values.begin(), values.end());
  }
  absl::StatusOr<client::ConsumedBatch> read = client::ConsumeBatch(*stub_, 0, 1 << 20, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->base_offset, 0u);
  EXPECT_EQ(read->values, all);
  EXPECT_EQ(read->end_offset, all.size());
  // log.v1 sees the same records at the same offsets.
  grpc::ClientContext context;
  logpb::v1::ConsumeRequest request;
  request.set_offset(9);
  logpb::v1::ConsumeResponse response;
  ASSERT_TRUE(log_stub_->Consume(&context, request, &response).ok());
  EXPECT_EQ(response.record().value(), all[9]);
}

TEST_F(BatchServiceTest, ProduceBatchMovingValuesAppendsThemInOrder) {
  StartServer();
  ASSERT_TRUE(client::ProduceBatch(*stub_, std::vector<std::string>{"x"}).ok());
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, Values(50, "m"));
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(*base, 1u);
  absl::StatusOr<client::ConsumedBatch> read = client::ConsumeBatch(*stub_, 1, 0, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->values, Values(50, "m"));
}

TEST_F(BatchServiceTest, ConcurrentBatchesAreNeverInterleavedWithOtherAppends) {
  StartServer();
  constexpr int kThreads = 4;
  constexpr int kBatches = 20;
  constexpr int kBatchSize = 25;
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> produced;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> values = Values(kBatchSize, absl::StrCat("t", t, "b", b, "-"));
        absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, values);
        ASSERT_TRUE(base.ok()) << base.status();
        absl::MutexLock lock(&mu);
        produced.emplace_back(*base, std::move(values));
      }
    });
    // Single-record produces from other clients in between.
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches * 2; ++i) {
        grpc::ClientContext context;
        logpb::v1::ProduceRequest request;
        request.mutable_record()->set_value(absl::StrCat("u", t, "-", i));
        logpb::v1::ProduceResponse response;
        ASSERT_TRUE(log_stub_->Produce(&context, request, &response).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(Next(), static_cast<uint64_t>(kThreads * kBatches * (kBatchSize + 2)));
  for (const auto& [base, values] : produced) {
    absl::StatusOr<client::ConsumedBatch> read =
        client::ConsumeBatch(*stub_, base, 1 << 20, kBatchSize);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->values, values) << "batch at " << base;
  }
}

TEST_F(BatchServiceTest, AnEmptyValueInABatchIsARecordAsInLogV1) {
  StartServer();
  std::vector<std::string> values = {"first", "", "third"};
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, values);
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(Next(), 3u);
  absl::StatusOr<client::ConsumedBatch> read = client::ConsumeBatch(*stub_, *base, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->values, values);
}

TEST_F(BatchServiceTest, ABatchWithNoValuesIsInvalidArgument) {
  StartServer();
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, std::vector<std::string>{});
  EXPECT_TRUE(absl::IsInvalidArgument(base.status())) << base.status();
}

TEST_F(BatchServiceTest, ABatchWithAnOversizedValueIsResourceExhaustedAndAppendsNothing) {
  StartServer();
  std::vector<std::string> values = {"ok", "ok", std::string(kMaxRecordBytes + 1, 'x')};
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, values);
  EXPECT_TRUE(absl::IsResourceExhausted(base.status())) << base.status();
  EXPECT_THAT(base.status().message(), HasSubstr("value 2"));
  EXPECT_EQ(Next(), 0u);
}

TEST_F(BatchServiceTest, ABatchOverTheBatchLimitIsResourceExhaustedAndAppendsNothing) {
  Options options;
  options.max_batch_bytes = 256 * 1024;
  StartServer(std::move(options));
  // Every value is within the record limit; together they are over the batch limit.
  std::vector<std::string> values(5, std::string(60 * 1024, 'y'));
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, values);
  EXPECT_TRUE(absl::IsResourceExhausted(base.status())) << base.status();
  EXPECT_THAT(base.status().message(), HasSubstr("maximum is 262144"));
  EXPECT_EQ(Next(), 0u);
  values.pop_back();
  EXPECT_TRUE(client::ProduceBatch(*stub_, values).ok());
}

TEST_F(BatchServiceTest, ConsumeBatchStopsAtMaxRecordsAndMaxBytes) {
  StartServer();
  ASSERT_TRUE(
      client::ProduceBatch(*stub_, std::vector<std::string>(100, std::string(100, 'r'))).ok());
  absl::StatusOr<client::ConsumedBatch> by_count = client::ConsumeBatch(*stub_, 10, 1 << 20, 7);
  ASSERT_TRUE(by_count.ok()) << by_count.status();
  EXPECT_EQ(by_count->base_offset, 10u);
  EXPECT_EQ(by_count->values.size(), 7u);
  EXPECT_EQ(by_count->NextOffset(), 17u);
  absl::StatusOr<client::ConsumedBatch> by_bytes = client::ConsumeBatch(*stub_, 0, 1000, 0);
  ASSERT_TRUE(by_bytes.ok()) << by_bytes.status();
  EXPECT_EQ(by_bytes->values.size(), 10u);
  // One record larger than max_bytes still comes, alone.
  absl::StatusOr<client::ConsumedBatch> one = client::ConsumeBatch(*stub_, 95, 1, 0);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->values.size(), 1u);
  absl::StatusOr<client::ConsumedBatch> tail = client::ConsumeBatch(*stub_, 95, 1 << 20, 0);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->values.size(), 5u);
  EXPECT_EQ(tail->end_offset, 100u);
}

TEST_F(BatchServiceTest, ConsumeBatchAtOrPastTheEndIsOutOfRange) {
  StartServer();
  ASSERT_TRUE(client::ProduceBatch(*stub_, Values(3, "e")).ok());
  EXPECT_TRUE(absl::IsOutOfRange(client::ConsumeBatch(*stub_, 3, 0, 0).status()));
  EXPECT_TRUE(absl::IsOutOfRange(client::ConsumeBatch(*stub_, 1000, 0, 0).status()));
}

TEST_F(BatchServiceTest, ConsumeBatchStreamReadsFromAnOffsetThenTailsNewBatches) {
  StartServer();
  const std::vector<std::string> first = Values(100, "s");
  ASSERT_TRUE(client::ProduceBatch(*stub_, first).ok());
  client::BatchStreamReader reader(*stub_, 20, 1 << 20, 30);
  std::vector<std::string> got;
  uint64_t expected_base = 20;
  while (got.size() < 80) {
    absl::StatusOr<std::optional<client::ConsumedBatch>> batch = reader.Next();
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_TRUE(batch->has_value());
    EXPECT_EQ((*batch)->base_offset, expected_base);
    EXPECT_LE((*batch)->values.size(), 30u);
    expected_base += (*batch)->values.size();
    got.insert(got.end(), (*batch)->values.begin(), (*batch)->values.end());
  }
  EXPECT_EQ(got, std::vector<std::string>(first.begin() + 20, first.end()));
  // Caught up: the next message comes only once new records are committed.
  const std::vector<std::string> second = Values(10, "t");
  std::thread producer([&] { EXPECT_TRUE(client::ProduceBatch(*stub_, second).ok()); });
  std::vector<std::string> tailed;
  while (tailed.size() < second.size()) {
    absl::StatusOr<std::optional<client::ConsumedBatch>> batch = reader.Next();
    ASSERT_TRUE(batch.ok() && batch->has_value());
    EXPECT_EQ((*batch)->base_offset, 100 + tailed.size());
    tailed.insert(tailed.end(), (*batch)->values.begin(), (*batch)->values.end());
  }
  producer.join();
  EXPECT_EQ(tailed, second);
}

TEST_F(BatchServiceTest, ConsumeBatchStreamGivesEachRecordTheTypeProduceBatchSent) {
  StartServer();
  grpc::ClientContext produce_context;
  logpb::v1::ProduceBatchRequest produce;
  for (uint32_t type : {7u, 0u, 0xffffffffu}) {
    produce.add_values(absl::StrCat("typed-", type));
    produce.add_types(type);
  }
  logpb::v1::ProduceBatchResponse produced;
  ASSERT_TRUE(stub_->ProduceBatch(&produce_context, produce, &produced).ok());
  // An untyped batch after it: a reply holding only these carries no types.
  ASSERT_TRUE(client::ProduceBatch(*stub_, Values(2, "plain")).ok());

  grpc::ClientContext context;
  logpb::v1::ConsumeBatchRequest request;
  request.set_offset(0);
  request.set_max_records(3);
  std::unique_ptr<grpc::ClientReaderInterface<logpb::v1::ConsumeBatchResponse>> stream =
      stub_->ConsumeBatchStream(&context, request);
  logpb::v1::ConsumeBatchResponse typed;
  ASSERT_TRUE(stream->Read(&typed));
  EXPECT_EQ(typed.base_offset(), 0u);
  ASSERT_EQ(typed.values_size(), 3);
  EXPECT_THAT(typed.types(), ::testing::ElementsAre(7u, 0u, 0xffffffffu));
  logpb::v1::ConsumeBatchResponse plain;
  ASSERT_TRUE(stream->Read(&plain));
  EXPECT_EQ(plain.base_offset(), 3u);
  EXPECT_EQ(plain.values_size(), 2);
  EXPECT_EQ(plain.types_size(), 0);
  context.TryCancel();
  (void)stream->Finish();
}

TEST_F(BatchServiceTest, ShutdownEndsATailingBatchStreamWithOk) {
  StartServer();
  ASSERT_TRUE(client::ProduceBatch(*stub_, Values(3, "z")).ok());
  client::BatchStreamReader reader(*stub_, 0, 0);
  absl::StatusOr<std::optional<client::ConsumedBatch>> batch = reader.Next();
  ASSERT_TRUE(batch.ok() && batch->has_value());
  std::thread stopper([&] { server_->Shutdown(); });
  for (;;) {
    batch = reader.Next();
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (!batch->has_value()) break;
  }
  stopper.join();
}

TEST_F(BatchServiceTest, CancellingATailingBatchStreamEndsItCancelled) {
  StartServer();
  client::BatchStreamReader reader(*stub_, 0, 0);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reader.Cancel();
  });
  absl::StatusOr<std::optional<client::ConsumedBatch>> batch = reader.Next();
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(batch.status())) << batch.status();
}

TEST_F(BatchServiceTest, TheAuthorizerSeesProduceAndConsumeAndItsRefusalReachesTheClient) {
  absl::Mutex mu;
  std::vector<std::string> seen;
  Options options;
  options.authorizer = [&](std::string_view /*subject*/, std::string_view action) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(action);
    return action == kProduceAction ? absl::PermissionDeniedError("no produce") : absl::OkStatus();
  };
  StartServer(std::move(options));
  EXPECT_TRUE(absl::IsPermissionDenied(client::ProduceBatch(*stub_, Values(2, "a")).status()));
  EXPECT_TRUE(absl::IsOutOfRange(client::ConsumeBatch(*stub_, 0, 0).status()));
  {
    // Admitted, then tails the empty log until its deadline.
    client::BatchStreamReader reader(*stub_, 0, 0, 0, absl::Now() + absl::Milliseconds(300));
    EXPECT_TRUE(absl::IsDeadlineExceeded(reader.Next().status()));
  }
  EXPECT_EQ(Next(), 0u);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"produce", "consume", "consume"}));
}

TEST_F(BatchServiceTest, AFollowerRefusesProduceBatchNamingTheLeader) {
  StartFakeServer();
  fake_->RefuseAppends(NotLeaderError("10.0.0.7:8400"));
  client::BatchCall call;
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, Values(3, "f"), &call);
  EXPECT_TRUE(absl::IsUnavailable(base.status())) << base.status();
  EXPECT_EQ(call.leader, "10.0.0.7:8400");
  fake_->RefuseAppends(NotLeaderError(""));
  base = client::ProduceBatch(*stub_, Values(3, "f"), &call);
  EXPECT_TRUE(absl::IsUnavailable(base.status()));
  EXPECT_EQ(call.leader, "");
  EXPECT_EQ(fake_->NextOffset(), 0u);
}

TEST_F(BatchServiceTest, ABatchFailedAfterAcceptanceNamesTheNewLeader) {
  StartFakeServer();
  fake_->FailAcceptedAppends(NotLeaderError("10.0.0.9:8400"));
  client::BatchCall call;
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub_, Values(3, "g"), &call);
  EXPECT_TRUE(absl::IsUnavailable(base.status())) << base.status();
  EXPECT_EQ(call.leader, "10.0.0.9:8400");
}

TEST_F(BatchServiceTest, AServerWithoutTheBatchServiceIsReportedUnsupported) {
  // A gRPC server with no services at all, as an original proglog is to log.v1.Batch.
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> bare = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  auto stub = client::NewBatchStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stub, Values(1, "u"));
  EXPECT_TRUE(client::IsBatchUnsupported(base.status())) << base.status();
  EXPECT_TRUE(client::IsBatchUnsupported(client::ConsumeBatch(*stub, 0, 0).status()));
  bare->Shutdown();
  // Our server has it.
  StartServer();
  EXPECT_FALSE(client::IsBatchUnsupported(client::ConsumeBatch(*stub_, 0, 0).status()));
}

// Calls a unary method by name with raw bytes, as a generic tool does.
grpc::Status GenericUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request_bytes, std::string* response_bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, method, request, &queue);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  std::vector<grpc::Slice> slices;
  if (status.ok() && response.Dump(&slices).ok()) {
    for (const auto& s : slices) {
      response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

TEST_F(BatchServiceTest, HealthAnswersForTheBatchService) {
  StartServer();
  std::string response;
  // HealthCheckRequest{service: "log.v1.Batch"}: field 1, length 12.
  const std::string request = std::string("\x0a\x0c", 2) + "log.v1.Batch";
  grpc::Status status = GenericUnary(channel_, "/grpc.health.v1.Health/Check", request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));  // SERVING
}

TEST_F(BatchServiceTest, ReflectionListsTheBatchService) {
  StartServer();
  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  const std::string request_bytes = std::string("\x3a\x01*", 3);  // list_services: "*"
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(bytes, HasSubstr("log.v1.Batch"));
  EXPECT_THAT(bytes, HasSubstr("log.v1.Log"));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  ASSERT_TRUE(queue.Next(&tag, &ok));
}

TEST_F(BatchServiceTest, BatchRpcsAreCountedInTheServerMetrics) {
  telemetry::Registry registry;
  Options options;
  options.metrics = &registry;
  StartServer(std::move(options));
  ASSERT_TRUE(client::ProduceBatch(*stub_, Values(4, "c")).ok());
  EXPECT_TRUE(absl::IsOutOfRange(client::ConsumeBatch(*stub_, 4, 0).status()));
  const std::string text = registry.RenderText();
  const std::string produced =
      "grpc_server_handled_total{grpc_method=\"ProduceBatch\",grpc_service=\"log.v1.Batch\","
      "grpc_type=\"unary\",grpc_code=\"OK\"} 1\n";
  const std::string out_of_range =
      "grpc_server_handled_total{grpc_method=\"ConsumeBatch\",grpc_service=\"log.v1.Batch\","
      "grpc_type=\"unary\",grpc_code=\"OutOfRange\"} 1\n";
  EXPECT_NE(text.find(produced), std::string::npos) << "missing: " << produced;
  EXPECT_NE(text.find(out_of_range), std::string::npos) << "missing: " << out_of_range;
}

}  // namespace
}  // namespace proglog::server
