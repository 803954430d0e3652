// Tests of core/server through a real gRPC channel on loopback, over a
// LocalCommitLog of a real Log on disk (wrapped by FaultInjectingLog where a
// fault is needed), or over FakeCommitLog where the commit log must act as a
// replicated one (refuse writes as a follower, report a cluster).
#include "core/server/server.h"

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/server/local_commit_log.h"
#include "core/server/public_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "proto/log/v1/wire.h"
#include "tests/server/fake_commit_log.h"
#include "tests/server/fault_injecting_log.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::server {
namespace {

using logpb::v1::ConsumeRequest;
using logpb::v1::ConsumeResponse;
using logpb::v1::ProduceRequest;
using logpb::v1::ProduceResponse;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kMaxRecordBytes = uint64_t{64} * 1024;

using ::proglog::testing::PollUntil;

ProduceRequest MakeProduce(std::string value) {
  ProduceRequest request;
  request.mutable_record()->set_value(std::move(value));
  return request;
}

// Calls a unary method by name with raw bytes, the way a generic tool does.
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
    for (const auto& s : slices)
      response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

class ServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    commit_log_.reset();
    fake_.reset();
    if (log_ != nullptr) (void)log_->Close();
  }

  // Opens the log and serves it; `options` may set an authorizer and such.
  static log::Options DefaultLogOptions() {
    log::Options log_options;
    log_options.max_record_bytes = kMaxRecordBytes;
    log_options.durability.mode = log::Durability::Mode::kNever;
    return log_options;
  }

  // Opens the log and serves it; `options` may set an authorizer and such. The
  // client channel uses `channel_credentials` (insecure when null).
  void StartServer(Options options = {}, log::Options log_options = DefaultLogOptions(),
                   std::shared_ptr<grpc::ChannelCredentials> channel_credentials = nullptr) {
    absl::StatusOr<std::unique_ptr<log::Log>> real = log::Log::Open(dir_ / "log", log_options);
    ASSERT_TRUE(real.ok()) << real.status();
    log_ = std::make_unique<testing::FaultInjectingLog>(*std::move(real));
    commit_log_ = std::make_unique<LocalCommitLog>(log_.get());
    options.max_record_bytes = log_options.max_record_bytes;
    StartServerOver(commit_log_.get(), std::move(options), std::move(channel_credentials));
  }

  // Serves an in-memory FakeCommitLog (fake_) instead of a local log.
  void StartFakeServer(Options options = {}) {
    fake_ = std::make_unique<testing::FakeCommitLog>();
    StartServerOver(fake_.get(), std::move(options));
  }

  // Serves `commit_log` (borrowed) and connects a client to it.
  void StartServerOver(CommitLog* commit_log, Options options = {},
                       std::shared_ptr<grpc::ChannelCredentials> channel_credentials = nullptr) {
    if (options.node_id.empty()) options.node_id = "node-under-test";
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(commit_log, std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    if (channel_credentials == nullptr) channel_credentials = grpc::InsecureChannelCredentials();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetSslTargetNameOverride("localhost");
    channel_ = grpc::CreateCustomChannel(server_->Address(), channel_credentials, args);
    stub_ = logpb::v1::Log::NewStub(channel_);
  }

  grpc::Status Produce(const std::string& value, uint64_t* offset) {
    grpc::ClientContext context;
    ProduceResponse response;
    grpc::Status status = stub_->Produce(&context, MakeProduce(value), &response);
    *offset = response.offset();
    return status;
  }

  grpc::Status Consume(uint64_t offset, logpb::v1::Record* record) {
    grpc::ClientContext context;
    ConsumeRequest request;
    request.set_offset(offset);
    ConsumeResponse response;
    grpc::Status status = stub_->Consume(&context, request, &response);
    *record = response.record();
    return status;
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<testing::FaultInjectingLog> log_;
  std::unique_ptr<LocalCommitLog> commit_log_;
  // Served instead of a local log by StartFakeServer().
  std::unique_ptr<testing::FakeCommitLog> fake_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<logpb::v1::Log::Stub> stub_;
};

TEST_F(ServerTest, ProduceReturnsDenseOffsetsAndConsumeReturnsTheRecords) {
  StartServer();
  std::mt19937 random(42);
  std::vector<std::string> values;
  for (int i = 0; i < 200; ++i) {
    values.push_back(
        absl::StrCat("record-", i, "-", std::string(random() % 300 + 1, 'a' + i % 26)));
    uint64_t offset = 0;
    ASSERT_TRUE(Produce(values.back(), &offset).ok());
    EXPECT_EQ(offset, static_cast<uint64_t>(i));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    logpb::v1::Record record;
    ASSERT_TRUE(Consume(i, &record).ok());
    EXPECT_EQ(record.value(), values[i]);
    EXPECT_EQ(record.offset(), i);
  }
}

TEST_F(ServerTest, ConsumePastTheEndIsOutOfRange) {
  StartServer();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("only", &offset).ok());
  logpb::v1::Record record;
  grpc::Status status = Consume(1, &record);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE) << status.error_message();
  EXPECT_EQ(Consume(1000000, &record).error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(ServerTest, ProduceWithoutRecordIsInvalidArgument) {
  StartServer();
  grpc::ClientContext context;
  ProduceResponse response;
  grpc::Status status = stub_->Produce(&context, ProduceRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("no record"));
  EXPECT_EQ(log_->NextOffset(), 0u);
}

TEST_F(ServerTest, EmptyValueIsARecordAsInTheOriginal) {
  StartServer();
  uint64_t offset = 99;
  ASSERT_TRUE(Produce("", &offset).ok());
  EXPECT_EQ(offset, 0u);
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(0, &record).ok());
  EXPECT_EQ(record.value(), "");
  EXPECT_EQ(log_->NextOffset(), 1u);
}

TEST_F(ServerTest, ProduceOverTheMaximumIsResourceExhaustedAndLosesNothing) {
  StartServer();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("before", &offset).ok());
  grpc::Status status = Produce(std::string(kMaxRecordBytes + 1, 'x'), &offset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), StartsWith("message too large"));
  EXPECT_THAT(status.error_message(), HasSubstr("maximum"));
  ASSERT_TRUE(Produce(std::string(kMaxRecordBytes, 'y'), &offset).ok());
  EXPECT_EQ(offset, 1u);
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(0, &record).ok());
  EXPECT_EQ(record.value(), "before");
}

TEST_F(ServerTest, DiskFullIsResourceExhaustedAndReadsKeepWorking) {
  StartServer();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("kept", &offset).ok());
  log_->SetDiskFull(true);
  grpc::Status status = Produce("refused", &offset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(0, &record).ok());
  EXPECT_EQ(record.value(), "kept");
  log_->SetDiskFull(false);
  ASSERT_TRUE(Produce("after", &offset).ok());
  EXPECT_EQ(offset, 1u);
}

TEST_F(ServerTest, ProduceStreamAnswersPipelinedRequestsInOrder) {
  StartServer();
  constexpr int kCount = 3000;
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  // All requests go out before the first reply is read: many are in flight.
  std::thread writer([&] {
    for (int i = 0; i < kCount; ++i) {
      if (!stream->Write(MakeProduce(absl::StrCat("piped-", i)))) return;
    }
    stream->WritesDone();
  });
  ProduceResponse response;
  uint64_t expected = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.offset(), expected);
    ++expected;
  }
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected, static_cast<uint64_t>(kCount));
  for (uint64_t offset : {uint64_t{0}, uint64_t{1234}, uint64_t{kCount - 1}}) {
    logpb::v1::Record record;
    ASSERT_TRUE(Consume(offset, &record).ok());
    EXPECT_EQ(record.value(), absl::StrCat("piped-", offset));
  }
}

TEST_F(ServerTest, ConcurrentProduceStreamsGetIncreasingDenseOffsets) {
  StartServer();
  constexpr int kStreams = 16;
  constexpr int kPerStream = 300;
  std::vector<std::vector<uint64_t>> offsets(kStreams);
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int s = 0; s < kStreams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub_->ProduceStream(&context);
      std::thread writer([&] {
        for (int i = 0; i < kPerStream; ++i) {
          if (!stream->Write(MakeProduce(absl::StrCat(s, ":", i)))) return;
        }
        stream->WritesDone();
      });
      ProduceResponse response;
      while (stream->Read(&response)) offsets[s].push_back(response.offset());
      writer.join();
      if (!stream->Finish().ok()) failures.fetch_add(1);
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<uint64_t> all;
  for (int s = 0; s < kStreams; ++s) {
    ASSERT_EQ(offsets[s].size(), static_cast<size_t>(kPerStream));
    for (int i = 0; i < kPerStream; ++i) {
      if (i > 0) {
        EXPECT_LT(offsets[s][i - 1], offsets[s][i]);
      }
      all.insert(offsets[s][i]);
      if (i % 37 == 0) {
        logpb::v1::Record record;
        ASSERT_TRUE(Consume(offsets[s][i], &record).ok());
        EXPECT_EQ(record.value(), absl::StrCat(s, ":", i));
      }
    }
  }
  // Dense: exactly the offsets 0 .. N-1, each once.
  ASSERT_EQ(all.size(), static_cast<size_t>(kStreams * kPerStream));
  EXPECT_EQ(*all.begin(), 0u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kStreams * kPerStream - 1));
}

TEST_F(ServerTest, ProduceStreamEndsAtTheFirstInvalidRequestAfterEarlierReplies) {
  StartServer();
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  ASSERT_TRUE(stream->Write(MakeProduce("a")));
  ASSERT_TRUE(stream->Write(MakeProduce("b")));
  ASSERT_TRUE(stream->Write(ProduceRequest()));  // no record
  stream->Write(MakeProduce("never"));
  stream->WritesDone();
  std::vector<uint64_t> got;
  ProduceResponse response;
  while (stream->Read(&response)) got.push_back(response.offset());
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(got, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(log_->NextOffset(), 2u);
}

TEST_F(ServerTest, ConsumeStreamReadsFromAnOffsetThenTailsNewRecords) {
  StartServer();
  uint64_t offset = 0;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Produce(absl::StrCat("v", i), &offset).ok());
  grpc::ClientContext context;
  ConsumeRequest request;
  request.set_offset(4);
  auto stream = stub_->ConsumeStream(&context, request);
  ConsumeResponse response;
  for (uint64_t want = 4; want < 10; ++want) {
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.record().offset(), want);
    EXPECT_EQ(response.record().value(), absl::StrCat("v", want));
  }
  // Caught up: the stream now waits on the log for offset 10.
  ASSERT_TRUE(PollUntil([&] { return log_->PendingWaits() == 1; }));
  for (int i = 10; i < 15; ++i) ASSERT_TRUE(Produce(absl::StrCat("v", i), &offset).ok());
  for (uint64_t want = 10; want < 15; ++want) {
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.record().offset(), want);
    EXPECT_EQ(response.record().value(), absl::StrCat("v", want));
  }
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ServerTest, ConsumeStreamFromAFutureOffsetWaitsForIt) {
  StartServer();
  grpc::ClientContext context;
  ConsumeRequest request;
  request.set_offset(3);
  auto stream = stub_->ConsumeStream(&context, request);
  ASSERT_TRUE(PollUntil([&] { return log_->PendingWaits() == 1; }));
  uint64_t offset = 0;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Produce(absl::StrCat("f", i), &offset).ok());
  ConsumeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.record().offset(), 3u);
  EXPECT_EQ(response.record().value(), "f3");
  context.TryCancel();
  stream->Finish();
}

TEST_F(ServerTest, TailingConsumersSeeEveryRecordInOrderWhileProducersWrite) {
  StartServer();
  constexpr int kConsumers = 8;
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 500;
  constexpr uint64_t kTotal = kProducers * kPerProducer;
  std::atomic<int> consumer_failures{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      auto stream = stub_->ConsumeStream(&context, ConsumeRequest());
      ConsumeResponse response;
      uint64_t next = 0;
      while (next < kTotal && stream->Read(&response)) {
        if (response.record().offset() != next || response.record().value().empty()) break;
        ++next;
      }
      if (next != kTotal) consumer_failures.fetch_add(1);
      context.TryCancel();
      stream->Finish();
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      grpc::ClientContext context;
      auto stream = stub_->ProduceStream(&context);
      for (int i = 0; i < kPerProducer; ++i) {
        if (!stream->Write(MakeProduce(absl::StrCat(p, "/", i)))) break;
      }
      stream->WritesDone();
      ProduceResponse response;
      while (stream->Read(&response)) {
      }
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (auto& t : producers) t.join();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(consumer_failures.load(), 0);
  EXPECT_EQ(log_->NextOffset(), kTotal);
  EXPECT_TRUE(PollUntil([&] { return log_->PendingWaits() == 0; }));
}

TEST_F(ServerTest, ClientCancelEndsATailingStreamAndDropsItsWait) {
  StartServer();
  grpc::ClientContext context;
  auto stream = stub_->ConsumeStream(&context, ConsumeRequest());
  ASSERT_TRUE(PollUntil([&] { return log_->PendingWaits() == 1; }));
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(PollUntil([&] { return log_->PendingWaits() == 0; }));
}

TEST_F(ServerTest, ShutdownEndsTailingStreamsWithOk) {
  StartServer();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("x", &offset).ok());
  constexpr int kStreams = 4;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<ConsumeResponse>>> streams;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stub_->ConsumeStream(contexts.back().get(), ConsumeRequest()));
    ConsumeResponse response;
    ASSERT_TRUE(streams.back()->Read(&response));
    EXPECT_EQ(response.record().value(), "x");
  }
  ASSERT_TRUE(PollUntil([&] { return log_->PendingWaits() == kStreams; }));
  std::thread stopper([&] { server_->Shutdown(); });
  for (auto& stream : streams) {
    ConsumeResponse response;
    EXPECT_FALSE(stream->Read(&response));
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  }
  stopper.join();
  EXPECT_EQ(log_->PendingWaits(), 0);
}

TEST_F(ServerTest, ShutdownLetsInFlightProducesFinishAndRefusesNewOnes) {
  StartServer();
  log_->HoldAppends(true);
  grpc::ClientContext context;
  ProduceResponse response;
  grpc::Status unary_status;
  std::atomic<bool> unary_done{false};
  const ProduceRequest in_flight = MakeProduce("in-flight");
  stub_->async()->Produce(&context, &in_flight, &response, [&](grpc::Status status) {
    unary_status = status;
    unary_done.store(true);
  });
  ASSERT_TRUE(PollUntil([&] { return log_->AppendsEntered() == 1; }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server_->Shutdown();
    stopped.store(true);
  });
  // Once health stops saying SERVING, a new RPC is refused while the old one is
  // still held in the log.
  auto fresh = grpc::CreateChannel(server_->Address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(PollUntil([&] {
    std::string health;
    grpc::Status status = GenericUnary(fresh, "/grpc.health.v1.Health/Check", "", &health);
    return !status.ok() || health != std::string("\x08\x01", 2);
  }));
  {
    grpc::ClientContext probe;
    probe.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ProduceResponse ignored;
    grpc::Status status =
        logpb::v1::Log::NewStub(fresh)->Produce(&probe, MakeProduce("late"), &ignored);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_FALSE(stopped.load());
  EXPECT_FALSE(unary_done.load());
  log_->HoldAppends(false);
  stopper.join();
  ASSERT_TRUE(PollUntil([&] { return unary_done.load(); }));
  EXPECT_TRUE(unary_status.ok()) << unary_status.error_message();
  EXPECT_EQ(response.offset(), 0u);
  EXPECT_EQ(log_->NextOffset(), 1u);
  absl::StatusOr<log::Record> record = log_->Read(0);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->value, "in-flight");
}

TEST_F(ServerTest, GetServersReportsThisNodeAsLeader) {
  StartServer();
  grpc::ClientContext context;
  logpb::v1::GetServersResponse response;
  ASSERT_TRUE(stub_->GetServers(&context, logpb::v1::GetServersRequest(), &response).ok());
  ASSERT_EQ(response.servers_size(), 1);
  EXPECT_EQ(response.servers(0).id(), "node-under-test");
  EXPECT_EQ(response.servers(0).rpc_addr(), server_->Address());
  EXPECT_TRUE(response.servers(0).is_leader());
}

TEST_F(ServerTest, GetServersReportsTheClusterTheCommitLogReports) {
  StartFakeServer();
  fake_->SetServers({{"a", "10.0.0.1:8400", false}, {"b", "10.0.0.2:8400", true}});
  grpc::ClientContext context;
  logpb::v1::GetServersResponse response;
  ASSERT_TRUE(stub_->GetServers(&context, logpb::v1::GetServersRequest(), &response).ok());
  ASSERT_EQ(response.servers_size(), 2);
  EXPECT_EQ(response.servers(0).id(), "a");
  EXPECT_EQ(response.servers(0).rpc_addr(), "10.0.0.1:8400");
  EXPECT_FALSE(response.servers(0).is_leader());
  EXPECT_EQ(response.servers(1).id(), "b");
  EXPECT_TRUE(response.servers(1).is_leader());
}

TEST_F(ServerTest, AuthorizerSeesEachActionAndItsRefusalReachesTheClient) {
  absl::Mutex mu;
  std::vector<std::string> seen;
  Options options;
  options.authorizer = [&](std::string_view subject, std::string_view action) {
    absl::MutexLock lock(&mu);
    seen.push_back(absl::StrCat("[", std::string(subject), "]", std::string(action)));
    if (action == kProduceAction) return absl::PermissionDeniedError("produce not allowed");
    return absl::OkStatus();
  };
  StartServer(std::move(options));
  uint64_t offset = 0;
  EXPECT_EQ(Produce("x", &offset).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext context;
    auto stream = stub_->ProduceStream(&context);
    stream->Write(MakeProduce("y"));
    stream->WritesDone();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  logpb::v1::Record record;
  EXPECT_EQ(Consume(0, &record).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(log_->NextOffset(), 0u);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"[]produce", "[]produce", "[]consume"}));
}

TEST_F(ServerTest, HealthServiceReportsServing) {
  StartServer();
  std::string response;
  // HealthCheckRequest{service: ""} is the empty message.
  grpc::Status status = GenericUnary(channel_, "/grpc.health.v1.Health/Check", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // HealthCheckResponse{status: SERVING (1)}: field 1, varint 1.
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST_F(ServerTest, ReflectionListsTheLogService) {
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
  // ServerReflectionRequest{list_services: "*"}: field 7, length-delimited.
  const std::string request_bytes = std::string("\x3a\x01*", 3);
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
  EXPECT_THAT(bytes, HasSubstr("log.v1.Log"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTest, ConsumeBelowTheLowestKeptOffsetIsOutOfRange) {
  log::Options log_options = DefaultLogOptions();
  log_options.max_store_bytes = 2048;
  StartServer({}, log_options);
  uint64_t offset = 0;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Produce(std::string(100, 'k'), &offset).ok());
  ASSERT_TRUE(log_->Truncate(50).ok());
  const uint64_t lowest = log_->LowestOffset();
  ASSERT_GT(lowest, 0u);
  logpb::v1::Record record;
  EXPECT_EQ(Consume(0, &record).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_TRUE(Consume(lowest, &record).ok());
  grpc::ClientContext context;
  auto stream = stub_->ConsumeStream(&context, ConsumeRequest());
  ConsumeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("lowest kept offset"));
}

// Flow control in both units: one request, or one byte, in flight per stream.
class ProduceStreamWindowTest : public ServerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ProduceStreamWindowTest, AWindowOfOneStillAnswersEveryRequestInOrder) {
  Options options;
  if (GetParam()) {
    options.max_in_flight_per_stream = 1;
  } else {
    options.max_in_flight_bytes_per_stream = 1;
  }
  StartServer(std::move(options));
  constexpr int kCount = 500;
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  std::thread writer([&] {
    for (int i = 0; i < kCount; ++i) {
      if (!stream->Write(MakeProduce(absl::StrCat("w", i)))) return;
    }
    stream->WritesDone();
  });
  ProduceResponse response;
  uint64_t expected = 0;
  while (stream->Read(&response)) EXPECT_EQ(response.offset(), expected++);
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected, static_cast<uint64_t>(kCount));
}

INSTANTIATE_TEST_SUITE_P(RequestsOrBytes, ProduceStreamWindowTest, ::testing::Bool());

TEST_F(ServerTest, ClientCancelOfAProduceStreamKeepsEveryAcknowledgedRecord) {
  StartServer();
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(stream->Write(MakeProduce(absl::StrCat("c", i))));
  std::vector<uint64_t> acked;
  ProduceResponse response;
  while (acked.size() < 100 && stream->Read(&response)) acked.push_back(response.offset());
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_EQ(acked.size(), 100u);
  for (size_t i = 0; i < acked.size(); ++i) {
    EXPECT_EQ(acked[i], i);
    logpb::v1::Record record;
    ASSERT_TRUE(Consume(acked[i], &record).ok());
    EXPECT_EQ(record.value(), absl::StrCat("c", i));
  }
  // The server is unaffected: the next produce lands right after whatever the
  // cancelled stream had appended.
  const uint64_t next = log_->NextOffset();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("after-cancel", &offset).ok());
  EXPECT_EQ(offset, next);
}

TEST_F(ServerTest, ShutdownAnswersAProduceStreamsInFlightRequestsThenEndsItUnavailable) {
  StartServer();
  log_->HoldAppends(true);
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(MakeProduce(absl::StrCat("s", i))));
  ASSERT_TRUE(PollUntil([&] { return log_->AppendsEntered() >= 1; }));
  std::thread stopper([&] { server_->Shutdown(); });
  auto probe = grpc::CreateChannel(server_->Address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(PollUntil([&] {
    std::string health;
    grpc::Status status = GenericUnary(probe, "/grpc.health.v1.Health/Check", "", &health);
    return !status.ok() || health != std::string("\x08\x01", 2);
  }));
  log_->HoldAppends(false);
  std::vector<uint64_t> answered;
  ProduceResponse response;
  while (stream->Read(&response)) answered.push_back(response.offset());
  grpc::Status status = stream->Finish();
  stopper.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ASSERT_GE(answered.size(), 1u);
  for (size_t i = 0; i < answered.size(); ++i) {
    EXPECT_EQ(answered[i], i);
    absl::StatusOr<log::Record> record = log_->Read(answered[i]);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->value, absl::StrCat("s", i));
  }
}

TEST_F(ServerTest, RecordsLargerThanGrpcsDefaultMessageLimitRoundTripUpToTheMaximum) {
  log::Options log_options = DefaultLogOptions();
  log_options.max_record_bytes = 6 << 20;
  log_options.max_store_bytes = 32 << 20;
  StartServer({}, log_options);
  std::mt19937 random(7);
  std::string big(5 << 20, '\0');
  for (char& c : big) c = static_cast<char>(random());
  uint64_t offset = 0;
  grpc::Status status = Produce(big, &offset);
  ASSERT_TRUE(status.ok()) << status.error_message();
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(offset, &record).ok());
  EXPECT_TRUE(record.value() == big);
  EXPECT_EQ(Produce(std::string((6 << 20) + 1, 'o'), &offset).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// Writes `text` to `path`.
void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(ServerTest, TlsClientCommonNameIsTheSubjectTheAuthorizerSees) {
  // A throwaway CA, a server certificate for 127.0.0.1/localhost and a client
  // certificate for "alice", made with the openssl tool.
  const std::filesystem::path pki = dir_ / "pki";
  std::filesystem::create_directories(pki);
  WriteFile(pki / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  WriteFile(pki / "client.ext", "extendedKeyUsage=clientAuth\n");
  const std::string make = absl::StrCat(
      "cd ", pki.string(), " && (",
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-keyout ca.key -out ca.pem -subj /CN=test-ca && ",
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout server.key -out server.csr -subj /CN=server && ",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile server.ext -out server.pem && ",
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout client.key -out client.csr -subj /CN=alice && ",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile client.ext -out client.pem",
      ") > openssl.log 2>&1");
  ASSERT_EQ(std::system(make.c_str()), 0) << ReadFile(pki / "openssl.log");

  grpc::SslServerCredentialsOptions server_tls(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  server_tls.pem_root_certs = ReadFile(pki / "ca.pem");
  server_tls.pem_key_cert_pairs.push_back(
      {ReadFile(pki / "server.key"), ReadFile(pki / "server.pem")});
  absl::Mutex mu;
  std::vector<std::string> seen;
  Options options;
  options.credentials = grpc::SslServerCredentials(server_tls);
  options.authorizer = [&](std::string_view subject, std::string_view action) {
    absl::MutexLock lock(&mu);
    seen.push_back(absl::StrCat(std::string(subject), ":", std::string(action)));
    return subject == "alice" ? absl::OkStatus() : absl::PermissionDeniedError("not alice");
  };
  grpc::SslCredentialsOptions client_tls;
  client_tls.pem_root_certs = ReadFile(pki / "ca.pem");
  client_tls.pem_private_key = ReadFile(pki / "client.key");
  client_tls.pem_cert_chain = ReadFile(pki / "client.pem");
  StartServer(std::move(options), DefaultLogOptions(), grpc::SslCredentials(client_tls));

  uint64_t offset = 0;
  grpc::Status status = Produce("secret", &offset);
  ASSERT_TRUE(status.ok()) << status.error_message();
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(offset, &record).ok());
  EXPECT_EQ(record.value(), "secret");
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"alice:produce", "alice:consume"}));
}

// The value of `key` in the trailing metadata of a finished call, or "<none>".
std::string Trailer(const grpc::ClientContext& context, const std::string& key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(key);
  if (it == trailers.end()) return "<none>";
  return std::string(it->second.data(), it->second.size());
}

TEST_F(ServerTest, ProduceOnAFollowerIsUnavailableWithTheLeaderInTrailingMetadata) {
  StartFakeServer();
  fake_->RefuseAppends(NotLeaderError("10.0.0.7:8400"));
  grpc::ClientContext context;
  ProduceResponse response;
  grpc::Status status = stub_->Produce(&context, MakeProduce("x"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "10.0.0.7:8400");
  EXPECT_EQ(fake_->NextOffset(), 0u);
}

TEST_F(ServerTest, ProduceDuringAnElectionIsUnavailableWithoutLeaderMetadata) {
  StartFakeServer();
  fake_->RefuseAppends(NotLeaderError(""));
  grpc::ClientContext context;
  ProduceResponse response;
  grpc::Status status = stub_->Produce(&context, MakeProduce("x"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "<none>");
}

TEST_F(ServerTest, ProduceStreamRefusedByAFollowerEndsWithTheLeaderInTrailingMetadata) {
  StartFakeServer();
  fake_->RefuseAppends(NotLeaderError("10.0.0.7:8400"));
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  stream->Write(MakeProduce("x"));
  stream->WritesDone();
  ProduceResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "10.0.0.7:8400");
}

TEST_F(ServerTest, AppendsFailedByALostLeadershipNameTheNewLeader) {
  StartFakeServer();
  uint64_t offset = 0;
  ASSERT_TRUE(Produce("while-leader", &offset).ok());
  // Accepted, then failed: the append completes later with the refusal.
  fake_->FailAcceptedAppends(NotLeaderError("10.0.0.9:8400"));
  {
    grpc::ClientContext context;
    ProduceResponse response;
    grpc::Status status = stub_->Produce(&context, MakeProduce("lost"), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "10.0.0.9:8400");
  }
  grpc::ClientContext context;
  auto stream = stub_->ProduceStream(&context);
  stream->Write(MakeProduce("lost-too"));
  stream->WritesDone();
  ProduceResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "10.0.0.9:8400");
  EXPECT_EQ(fake_->NextOffset(), 1u);
}

TEST_F(ServerTest, OtherUnavailableErrorsCarryNoLeaderMetadata) {
  StartFakeServer();
  fake_->RefuseAppends(absl::UnavailableError("stopping"));
  grpc::ClientContext context;
  ProduceResponse response;
  EXPECT_EQ(stub_->Produce(&context, MakeProduce("x"), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Trailer(context, wire::kLeaderMetadataKey), "<none>");
}

TEST_F(ServerTest, ServesAFakeCommitLogEndToEnd) {
  StartFakeServer();
  uint64_t offset = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Produce(absl::StrCat("f", i), &offset).ok());
    EXPECT_EQ(offset, static_cast<uint64_t>(i));
  }
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(3, &record).ok());
  EXPECT_EQ(record.value(), "f3");
  grpc::ClientContext context;
  ConsumeRequest request;
  request.set_offset(4);
  auto stream = stub_->ConsumeStream(&context, request);
  ConsumeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.record().value(), "f4");
  ASSERT_TRUE(Produce("f5", &offset).ok());
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.record().value(), "f5");
  context.TryCancel();
  stream->Finish();
}

// A connected loopback TCP pair: {accepted, client}, both blocking.
std::pair<int, int> LoopbackPair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  return {accepted, client};
}

TEST_F(ServerTest, WithoutAListenerServesConnectionsHandedInAsFds) {
  absl::StatusOr<std::unique_ptr<log::Log>> real =
      log::Log::Open(dir_ / "log", DefaultLogOptions());
  ASSERT_TRUE(real.ok()) << real.status();
  log_ = std::make_unique<testing::FaultInjectingLog>(*std::move(real));
  commit_log_ = std::make_unique<LocalCommitLog>(log_.get());
  Options options;
  options.no_listener = true;
  options.node_id = "muxed";
  options.advertise_address = "10.0.0.3:8400";
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(commit_log_.get(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  EXPECT_EQ(server_->Port(), 0);
  EXPECT_EQ(server_->Address(), "");
  ASSERT_NE(server_->GrpcServer(), nullptr);

  // What the mux does with an accepted connection; the client speaks through
  // its own end of the same TCP connection.
  auto [accepted, client] = LoopbackPair();
  ASSERT_GE(accepted, 0);
  ASSERT_TRUE(server_->AddConnection(accepted).ok());
  // gRPC needs a non-blocking socket on its own side too.
  ASSERT_EQ(::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK), 0);
  auto channel = grpc::CreateInsecureChannelFromFd("muxed", client);
  auto stub = logpb::v1::Log::NewStub(channel);
  grpc::ClientContext produce_context;
  produce_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ProduceResponse produced;
  grpc::Status status = stub->Produce(&produce_context, MakeProduce("via-fd"), &produced);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(produced.offset(), 0u);
  grpc::ClientContext servers_context;
  servers_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  logpb::v1::GetServersResponse servers;
  ASSERT_TRUE(stub->GetServers(&servers_context, logpb::v1::GetServersRequest(), &servers).ok());
  ASSERT_EQ(servers.servers_size(), 1);
  EXPECT_EQ(servers.servers(0).rpc_addr(), "10.0.0.3:8400");

  server_->Shutdown();
  auto [late, late_client] = LoopbackPair();
  EXPECT_EQ(server_->AddConnection(late).code(), absl::StatusCode::kUnavailable);
  // The refused fd was closed: its peer reads end-of-file.
  char byte;
  EXPECT_EQ(::read(late_client, &byte, 1), 0);
  ::close(late_client);
}

TEST_F(ServerTest, AServerWithItsOwnListenerRefusesConnectionsHandedIn) {
  StartServer();
  auto [accepted, client] = LoopbackPair();
  EXPECT_EQ(server_->AddConnection(accepted).code(), absl::StatusCode::kFailedPrecondition);
  char byte;
  EXPECT_EQ(::read(client, &byte, 1), 0);  // closed, not leaked
  ::close(client);
}

TEST_F(ServerTest, ListensOnAUnixAbstractAddress) {
  Options options;
  options.address = absl::StrCat("unix-abstract:proglog-server-test-", ::getpid());
  StartServer(options);
  EXPECT_EQ(server_->Address(), options.address);
  EXPECT_EQ(server_->Port(), 0);
  uint64_t offset = 0;
  grpc::Status status = Produce("over-unix", &offset);
  ASSERT_TRUE(status.ok()) << status.error_message();
  logpb::v1::Record record;
  ASSERT_TRUE(Consume(offset, &record).ok());
  EXPECT_EQ(record.value(), "over-unix");
}

TEST_F(ServerTest, ABusyUnixAbstractAddressIsAnError) {
  Options options;
  options.address = absl::StrCat("unix-abstract:proglog-server-busy-", ::getpid());
  StartServer(options);
  testing::FakeCommitLog other_log;
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(&other_log, options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

}  // namespace
}  // namespace proglog::server

namespace proglog::server {
namespace {

TEST(WithoutServerPathsTest, DiskFullIsSaidInWordsWithoutThePath) {
  const absl::Status status = WithoutServerPaths(absl::ResourceExhaustedError(
      "write /var/lib/proglog/raft/log/00000000000000000000.store: No space left on device"));
  EXPECT_TRUE(absl::IsResourceExhausted(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("the server's disk is full"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("write <file>: No space left on device"));
  EXPECT_EQ(std::string(status.message()).find("/var/lib"), std::string::npos) << status;
}

TEST(WithoutServerPathsTest, OtherStorageErrorsLoseOnlyTheirPaths) {
  const absl::Status status = WithoutServerPaths(
      absl::DataLossError("corrupt record in /data/log/0.store at byte 12: invalid length"));
  EXPECT_TRUE(absl::IsDataLoss(status));
  EXPECT_EQ(status.message(), "corrupt record in <file> at byte 12: invalid length");
}

TEST(WithoutServerPathsTest, MessagesWithoutPathsAndTooLargeRecordsStayAsTheyAre) {
  const absl::Status too_large = absl::ResourceExhaustedError("message too large: 5 > 4");
  EXPECT_EQ(WithoutServerPaths(too_large), too_large);
  const absl::Status out_of_range = absl::OutOfRangeError("offset 9 is past the end (next 3)");
  EXPECT_EQ(WithoutServerPaths(out_of_range), out_of_range);
}

}  // namespace
}  // namespace proglog::server
