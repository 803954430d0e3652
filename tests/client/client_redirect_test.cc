// The client follows a follower's "not the leader" answer to the leader it
// names, and gives up after its retry budget when that leader is down. The
// follower is a stub service that claims to lead in GetServers (a stale view,
// as after an election) and refuses every write the way the wire contract says
// a follower does (UNAVAILABLE plus the leader's address in trailing
// metadata); the leader is a real node.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "core/client/client.h"
#include "core/node/node.h"
#include "log/v1/log.grpc.pb.h"

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
    dir_ = std::filesystem::temp_directory_path() /
           ("proglog-client-redirect-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
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
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Client> OpenClient(std::vector<std::string> addresses, int attempts = 10) {
    Options options;
    options.addresses = std::move(addresses);
    options.retry.max_attempts = attempts;
    auto client = Client::Open(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::filesystem::path dir_;
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

TEST(NotLeaderAddressTest, PlainUnavailableIsNotARedirect) {
  EXPECT_EQ(NotLeaderAddress(absl::UnavailableError("down")), std::nullopt);
  EXPECT_EQ(NotLeaderAddress(absl::OkStatus()), std::nullopt);
}

}  // namespace
}  // namespace proglog::client
