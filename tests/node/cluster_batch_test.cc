// log.v1.Batch on a three-node cluster of in-process nodes (Raft over loopback,
// gossip joins): a batch produced at the leader is readable, identically and at
// the same offsets, from every node; a follower refuses a batch naming the leader.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/client/batch_rpc.h"
#include "core/node/node.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node {
namespace {

using ::proglog::testing::PollUntil;

class ClusterBatchTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& node : nodes_) {
      if (node != nullptr) (void)node->Close();
    }
    nodes_.clear();
  }

  void StartNode(int i, const std::string& join) {
    Config config;
    config.data_dir = dir_ / absl::StrCat("n", i);
    config.node_name = absl::StrCat("n", i);
    config.log.durability.mode = log::Durability::Mode::kAlways;
    config.cluster.enabled = true;
    config.cluster.bind_addr = "127.0.0.1:0";
    config.cluster.bootstrap = join.empty();
    if (!join.empty()) config.cluster.start_join_addrs = {join};
    config.cluster.heartbeat_interval = std::chrono::milliseconds(20);
    config.cluster.election_timeout = std::chrono::milliseconds(200);
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(std::move(config));
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_.push_back(*std::move(node));
    stubs_.push_back(client::NewBatchStub(
        grpc::CreateChannel(nodes_.back()->RpcAddress(), grpc::InsecureChannelCredentials())));
  }

  // Voters per GetServers on node `i` (all members, one of them leading).
  int LeadingMembers(int i, std::string* leader) {
    auto stub = logpb::v1::Log::NewStub(
        grpc::CreateChannel(nodes_[i]->RpcAddress(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    logpb::v1::GetServersResponse response;
    if (!stub->GetServers(&context, logpb::v1::GetServersRequest(), &response).ok()) return 0;
    int leaders = 0;
    for (const auto& server : response.servers()) {
      if (server.is_leader()) {
        ++leaders;
        *leader = server.rpc_addr();
      }
    }
    return leaders == 1 ? response.servers_size() : 0;
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<logpb::v1::Batch::StubInterface>> stubs_;
};

TEST_F(ClusterBatchTest, ABatchProducedAtTheLeaderIsReadIdenticallyFromEveryNode) {
  StartNode(0, "");
  StartNode(1, nodes_[0]->GossipAddress());
  StartNode(2, nodes_[0]->GossipAddress());
  std::string leader;
  ASSERT_TRUE(PollUntil([&] { return LeadingMembers(0, &leader) == 3; }));
  ASSERT_EQ(leader, nodes_[0]->RpcAddress());

  std::vector<std::string> values;
  for (int i = 0; i < 500; ++i) values.push_back(absl::StrCat("cluster-batch-", i));
  absl::StatusOr<uint64_t> base = client::ProduceBatch(*stubs_[0], values);
  ASSERT_TRUE(base.ok()) << base.status();
  absl::StatusOr<uint64_t> second = client::ProduceBatch(*stubs_[0], std::vector<std::string>{"x"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *base + values.size());
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> read;
    ASSERT_TRUE(PollUntil([&] {
      absl::StatusOr<client::ConsumedBatch> batch =
          client::ConsumeBatch(*stubs_[i], *base, 1 << 20, values.size());
      if (!batch.ok() || batch->values.size() < values.size()) return false;
      read = batch->values;
      return true;
    })) << "node "
        << i;
    EXPECT_EQ(read, values) << "node " << i;
  }

  // A follower refuses, naming the leader.
  client::BatchCall call;
  absl::StatusOr<uint64_t> refused = client::ProduceBatch(*stubs_[1], values, &call);
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_EQ(call.leader, nodes_[0]->RpcAddress());
}

}  // namespace
}  // namespace proglog::node
