// The client follows a follower's "not the leader" answer to the leader it
// names, and gives up after its retry budget when that leader is down. The
// follower is a stub service that claims to lead in GetServers (a stale view,
// as after an election) and refuses every write the way the wire contract says
// a follower does (UNAVAILABLE plus the leader's address in trailing
// metadata); the leader is a real node.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/client/client.h"
#include "core/node/node.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::client {
namespace {

class RefusingFollower : public logpb::v1::Log::Service {
 public:
  explicit RefusingFollower(std::string leader) : leader_(std::move(leader)) {}
  void set_self(std::string address) { self_ = std::move(address); }
  grpc::Status GetServers(grpc::ServerContext*, const logpb::v1::GetServersRequest*,
                          logpb::v1::GetServersResponse* response) override {
    auto* server = response->add_servers();
    server->set_id("stale");
    server->set_rpc_addr(self_);
    server->set_is_leader(true);
    return grpc::Status::OK;
  }
  grpc::Status Produce(grpc::ServerContext* ctx, const logpb::v1::ProduceRequest*,
                       logpb::v1::ProduceResponse*) override {
    ++refused_;
    ctx->AddTrailingMetadata(kLeaderMetadataKey, leader_);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not the leader");
  }
  int refused() const { return refused_; }

 private:
  std::string leader_;
  std::string self_;
  std::atomic<int> refused_{0};
};

class RedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node::Config config;
    config.data_dir = dir_;
    config.node_name = "leader";
    auto opened = node::Node::Open(config);
    ASSERT_TRUE(opened.ok()) << opened.status();
    leader_ = *std::move(opened);
  }

  void StartFollower(const std::string& names_leader) {
    follower_ = std::make_unique<RefusingFollower>(names_leader);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(follower_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    follower_address_ = "127.0.0.1:" + std::to_string(port);
    follower_->set_self(follower_address_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (leader_) {
      EXPECT_TRUE(leader_->Close().ok());
    }
  }

  std::unique_ptr<Client> OpenClient(std::vector<std::string> addresses, int attempts = 10) {
    Options options;
    options.addresses = std::move(addresses);
    options.retry.max_attempts = attempts;
    auto client = Client::Open(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown and the members below
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<node::Node> leader_;
  std::unique_ptr<RefusingFollower> follower_;
  std::unique_ptr<grpc::Server> server_;
  std::string follower_address_;
  const std::string follower_address_placeholder_ = "127.0.0.1:1";
};

TEST_F(RedirectTest, WriteRefusedByAFollowerIsRetriedAtTheLeaderItNames) {
  StartFollower(leader_->RpcAddress());
  auto client = OpenClient({follower_address_});
  auto offset = client->Produce("redirected");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(follower_->refused(), 1);
  auto record = leader_->Read(*offset);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "redirected");
  // The leader is remembered: the next write goes straight there.
  ASSERT_TRUE(client->Produce("direct").ok());
  EXPECT_EQ(follower_->refused(), 1);
}

TEST_F(RedirectTest, NamedLeaderThatIsDownFailsAfterTheRetryBudget) {
  // A port that was just free: nothing listens there.
  const std::string down = leader_->RpcAddress();
  ASSERT_TRUE(leader_->Close().ok());
  leader_.reset();
  StartFollower(down);
  auto client = OpenClient({follower_address_}, /*attempts=*/4);
  auto offset = client->Produce("x");
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kUnavailable) << offset.status();
  EXPECT_GE(follower_->refused(), 1);
  // Nothing reached a leader, and the client knows it: not "outcome unknown".
  EXPECT_FALSE(IsOutcomeUnknown(offset.status())) << offset.status();
}

TEST_F(RedirectTest, TheLastRedirectIsReported) {
  StartFollower(follower_address_placeholder_);
  auto client = OpenClient({follower_address_}, /*attempts=*/1);
  auto offset = client->Produce("x");
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(NotLeaderAddress(offset.status()), follower_address_placeholder_);
}

// A leader that takes a produce and never answers, as one that dies mid-call.
class SilentLeader : public logpb::v1::Log::Service {
 public:
  grpc::Status Produce(grpc::ServerContext* ctx, const logpb::v1::ProduceRequest*,
                       logpb::v1::ProduceResponse*) override {
    ++received_;
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
  }
  grpc::Status GetServers(grpc::ServerContext*, const logpb::v1::GetServersRequest*,
                          logpb::v1::GetServersResponse* response) override {
    auto* server = response->add_servers();
    server->set_id("silent");
    server->set_rpc_addr(self_);
    server->set_is_leader(true);
    return grpc::Status::OK;
  }
  std::string self_;
  std::atomic<int> received_{0};
};

class OutcomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&leader_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    leader_.self_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<Client> OpenClient(std::string address, std::chrono::milliseconds timeout) {
    Options options;
    options.addresses = {std::move(address)};
    options.call_timeout = timeout;
    options.retry.max_attempts = 1000;
    auto client = Client::Open(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  SilentLeader leader_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(OutcomeTest, ProduceThatReachedTheLeaderAndTimedOutHasAnUnknownOutcome) {
  auto client = OpenClient(leader_.self_, std::chrono::milliseconds(300));
  auto offset = client->Produce("maybe");
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kDeadlineExceeded) << offset.status();
  EXPECT_TRUE(IsOutcomeUnknown(offset.status())) << offset.status();
  EXPECT_EQ(leader_.received_.load(), 1);
}

TEST_F(OutcomeTest, CancellingAProduceInFlightReturnsCancelledWithAnUnknownOutcome) {
  auto client = OpenClient(leader_.self_, std::chrono::minutes(5));
  CallOptions call;
  call.cancel = std::make_shared<Cancellation>();
  std::thread canceller([&] {
    while (leader_.received_.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    call.cancel->Cancel();
  });
  auto offset = client->Produce("maybe", call);
  canceller.join();
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kCancelled) << offset.status();
  EXPECT_TRUE(IsOutcomeUnknown(offset.status())) << offset.status();
}

TEST_F(OutcomeTest, CancellingWhileNoServerAnswersReturnsCancelledAndNothingWasSent) {
  // Nothing listens on port 1: connections are refused, the client backs off.
  auto client = OpenClient("127.0.0.1:1", std::chrono::minutes(5));
  CallOptions call;
  call.cancel = std::make_shared<Cancellation>();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    call.cancel->Cancel();
  });
  auto offset = client->Produce("never sent", call);
  canceller.join();
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kCancelled) << offset.status();
  EXPECT_FALSE(IsOutcomeUnknown(offset.status())) << offset.status();
}

TEST_F(OutcomeTest, APerCallTimeoutReplacesTheClients) {
  auto client = OpenClient(leader_.self_, std::chrono::minutes(5));
  CallOptions call;
  call.timeout = std::chrono::milliseconds(200);
  auto offset = client->Produce("maybe", call);
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kDeadlineExceeded) << offset.status();
}

TEST(NotLeaderAddressTest, PlainUnavailableIsNotARedirect) {
  EXPECT_EQ(NotLeaderAddress(absl::UnavailableError("down")), std::nullopt);
  EXPECT_EQ(NotLeaderAddress(absl::OkStatus()), std::nullopt);
}

}  // namespace
}  // namespace proglog::client
