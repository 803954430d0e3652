// A record's type (log.v1 Record.type) comes back exactly as its producer sent
// it, through every produce RPC (Produce, ProduceStream, log.v1.Batch
// ProduceBatch) and every read RPC (Consume, ConsumeStream, ConsumeBatch), on a
// single node's local log and on a cluster node's replicated log, and after the
// node restarts over its data dir. In-process nodes, real gRPC on loopback.
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
#include "core/node/node.h"
#include "gtest/gtest.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node {
namespace {

struct Typed {
  std::string value;
  uint32_t type;
  bool operator==(const Typed&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Typed& record) {
  return out << "{" << record.value << ", type " << record.type << "}";
}

using ::proglog::testing::PollUntil;

enum class Mode { kLocal, kCluster };

class RecordTypeTest : public ::testing::TestWithParam<Mode> {
 protected:
  void TearDown() override {
    if (node_ != nullptr) (void)node_->Close();
    node_.reset();
  }

  // Opens the node over dir_/data (again after a Close) and connects stubs.
  void Open() {
    Config config;
    config.data_dir = dir_ / "data";
    config.node_name = "typed";
    config.log.durability.mode = log::Durability::Mode::kNever;
    if (GetParam() == Mode::kCluster) {
      config.cluster.enabled = true;
      config.cluster.bind_addr = "127.0.0.1:0";
      config.cluster.bootstrap = true;
      config.cluster.heartbeat_interval = std::chrono::milliseconds(20);
      config.cluster.election_timeout = std::chrono::milliseconds(200);
    }
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(std::move(config));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
    auto channel = grpc::CreateChannel(node_->RpcAddress(), grpc::InsecureChannelCredentials());
    log_ = logpb::v1::Log::NewStub(channel);
    batch_ = logpb::v1::Batch::NewStub(channel);
  }

  void Restart() {
    ASSERT_TRUE(node_->Close().ok());
    node_.reset();
    Open();
  }

  // Produce, retried while a restarted one-node cluster elects itself.
  absl::StatusOr<uint64_t> Produce(const Typed& record) {
    absl::StatusOr<uint64_t> result = absl::UnavailableError("not tried");
    PollUntil([&] {
      grpc::ClientContext context;
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value(record.value);
      request.mutable_record()->set_type(record.type);
      logpb::v1::ProduceResponse response;
      grpc::Status status = log_->Produce(&context, request, &response);
      if (status.ok()) {
        result = response.offset();
        return true;
      }
      result =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
      return status.error_code() != grpc::StatusCode::UNAVAILABLE;
    });
    return result;
  }

  // Produces `records` over one ProduceStream; returns their offsets.
  std::vector<uint64_t> ProduceStream(const std::vector<Typed>& records) {
    grpc::ClientContext context;
    auto stream = log_->ProduceStream(&context);
    std::vector<uint64_t> offsets;
    for (const Typed& record : records) {
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value(record.value);
      request.mutable_record()->set_type(record.type);
      EXPECT_TRUE(stream->Write(request));
      logpb::v1::ProduceResponse response;
      EXPECT_TRUE(stream->Read(&response));
      offsets.push_back(response.offset());
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return offsets;
  }

  grpc::Status ProduceBatch(const std::vector<Typed>& records, bool send_types, uint64_t* base) {
    grpc::ClientContext context;
    logpb::v1::ProduceBatchRequest request;
    for (const Typed& record : records) {
      request.add_values(record.value);
      if (send_types) request.add_types(record.type);
    }
    logpb::v1::ProduceBatchResponse response;
    grpc::Status status = batch_->ProduceBatch(&context, request, &response);
    *base = response.base_offset();
    return status;
  }

  // Whether `offset` reads (a restarted cluster node re-applies its log first).
  bool Readable(uint64_t offset) {
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(offset);
    logpb::v1::ConsumeResponse response;
    return log_->Consume(&context, request, &response).ok();
  }

  Typed Consume(uint64_t offset) {
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(offset);
    logpb::v1::ConsumeResponse response;
    grpc::Status status = log_->Consume(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.record().offset(), offset);
    return Typed{response.record().value(), response.record().type()};
  }

  std::vector<Typed> ConsumeStream(uint64_t from, size_t count) {
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(from);
    auto stream = log_->ConsumeStream(&context, request);
    std::vector<Typed> out;
    logpb::v1::ConsumeResponse response;
    while (out.size() < count && stream->Read(&response)) {
      out.push_back(Typed{response.record().value(), response.record().type()});
    }
    context.TryCancel();
    (void)stream->Finish();
    return out;
  }

  logpb::v1::ConsumeBatchResponse ConsumeBatch(uint64_t from) {
    grpc::ClientContext context;
    logpb::v1::ConsumeBatchRequest request;
    request.set_offset(from);
    logpb::v1::ConsumeBatchResponse response;
    grpc::Status status = batch_->ConsumeBatch(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static std::vector<Typed> Records(const logpb::v1::ConsumeBatchResponse& response) {
    std::vector<Typed> out;
    out.reserve(response.values_size());
    for (int i = 0; i < response.values_size(); ++i) {
      out.push_back(Typed{response.values(i), response.types_size() == 0 ? 0 : response.types(i)});
    }
    return out;
  }

  // Every read RPC gives back `want`, from offset 0.
  void ExpectEveryReadGives(const std::vector<Typed>& want) {
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(Consume(i), want[i]) << "Consume " << i;
    EXPECT_EQ(ConsumeStream(0, want.size()), want) << "ConsumeStream";
    logpb::v1::ConsumeBatchResponse batch = ConsumeBatch(0);
    EXPECT_EQ(batch.base_offset(), 0u);
    EXPECT_EQ(Records(batch), want) << "ConsumeBatch";
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<Node> node_;
  std::unique_ptr<logpb::v1::Log::Stub> log_;
  std::unique_ptr<logpb::v1::Batch::Stub> batch_;
};

TEST_P(RecordTypeTest, EveryReadRpcReturnsTheTypeEveryProduceRpcSent) {
  Open();
  std::vector<Typed> want = {{"unary-7", 7}, {"unary-0", 0}};
  ASSERT_EQ(*Produce(want[0]), 0u);
  ASSERT_EQ(*Produce(want[1]), 1u);
  const std::vector<Typed> streamed = {{"stream-9", 9}, {"stream-max", 0xffffffffu}};
  EXPECT_EQ(ProduceStream(streamed), (std::vector<uint64_t>{2, 3}));
  want.insert(want.end(), streamed.begin(), streamed.end());
  const std::vector<Typed> batched = {{"batch-0", 0}, {"batch-11", 11}, {"", 12}};
  uint64_t base = 0;
  ASSERT_TRUE(ProduceBatch(batched, true, &base).ok());
  EXPECT_EQ(base, 4u);
  want.insert(want.end(), batched.begin(), batched.end());
  ExpectEveryReadGives(want);

  Restart();
  ASSERT_TRUE(PollUntil([&] { return Readable(want.size() - 1); }));
  ExpectEveryReadGives(want);
  // And the log goes on where it was, types and all.
  absl::StatusOr<uint64_t> after = Produce(Typed{"after-restart", 5});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, want.size());
  EXPECT_EQ(Consume(*after), (Typed{"after-restart", 5}));
}

TEST_P(RecordTypeTest, AllTypeZeroBatchesCarryNoTypesOnTheWire) {
  Open();
  uint64_t base = 0;
  ASSERT_TRUE(ProduceBatch({{"a", 0}, {"b", 0}}, false, &base).ok());
  logpb::v1::ConsumeBatchResponse response = ConsumeBatch(0);
  EXPECT_EQ(response.values_size(), 2);
  EXPECT_EQ(response.types_size(), 0);
}

TEST_P(RecordTypeTest, ABatchWithTypesForSomeValuesOnlyIsInvalidArgument) {
  Open();
  grpc::ClientContext context;
  logpb::v1::ProduceBatchRequest request;
  request.add_values("a");
  request.add_values("b");
  request.add_types(3);
  logpb::v1::ProduceBatchResponse response;
  grpc::Status status = batch_->ProduceBatch(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("1 types for 2 values"), std::string::npos)
      << status.error_message();
}

INSTANTIATE_TEST_SUITE_P(LocalAndCluster, RecordTypeTest,
                         ::testing::Values(Mode::kLocal, Mode::kCluster),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return info.param == Mode::kLocal ? "LocalLog" : "ReplicatedLog";
                         });

}  // namespace
}  // namespace proglog::node
