// One metrics registry per node: two Raft nodes (each its own single-node
// cluster) and a local node run in this process, each serving /metrics on
// its own port. Each scrape shows that node's values alone: its produce count,
// its Raft commit index and commit count, its log, and the process_* series
// once.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/node/node.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node {
namespace {

constexpr char kProducesOk[] =
    "grpc_server_handled_total{grpc_method=\"Produce\",grpc_service=\"log.v1.Log\","
    "grpc_type=\"unary\",grpc_code=\"OK\"}";

using ::proglog::testing::PollUntil;

std::string Scrape(const Node& node) {
  const std::string address = node.MetricsAddress();
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    ADD_FAILURE() << "bad metrics address " << address;
    return "";
  }
  httplib::Client client(address.substr(0, colon), port);
  httplib::Result result = client.Get("/metrics");
  if (!result || result->status != 200) {
    ADD_FAILURE() << "scrape of " << address << " failed";
    return "";
  }
  return result->body;
}

// The values of the lines of `text` whose series (name and labels) is `series`.
std::vector<double> Values(const std::string& text, const std::string& series) {
  std::vector<double> values;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() <= series.size() || line.compare(0, series.size(), series) != 0 ||
        line[series.size()] != ' ') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) values.push_back(value);
  }
  return values;
}

// The one value of `series`; nullopt when it is missing or repeated.
std::optional<double> Value(const std::string& text, const std::string& series) {
  std::vector<double> values = Values(text, series);
  if (values.size() != 1) return std::nullopt;
  return values[0];
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& node : nodes_) (void)node->Close();
    nodes_.clear();
  }

  Node* Open(const std::string& name, bool cluster) {
    Config config;
    config.data_dir = dir_ / name;
    config.node_name = name;
    config.telemetry.metrics_addr = "127.0.0.1:0";
    if (cluster) {
      config.cluster.enabled = true;
      config.cluster.bind_addr = "127.0.0.1:0";
      config.cluster.bootstrap = true;
      config.cluster.heartbeat_interval = std::chrono::milliseconds(20);
      config.cluster.election_timeout = std::chrono::milliseconds(200);
    }
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(std::move(config));
    if (!node.ok()) {
      ADD_FAILURE() << node.status();
      return nullptr;
    }
    nodes_.push_back(*std::move(node));
    return nodes_.back().get();
  }

  static void Produce(const Node& node, int count) {
    auto stub = logpb::v1::Log::NewStub(
        grpc::CreateChannel(node.RpcAddress(), grpc::InsecureChannelCredentials()));
    for (int i = 0; i < count; ++i) {
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value(absl::StrCat(node.RpcAddress(), " record ", i));
      logpb::v1::ProduceResponse response;
      grpc::Status status;
      // A fresh single-node cluster elects itself first: retry UNAVAILABLE.
      for (int attempt = 0; attempt < 200; ++attempt) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        status = stub->Produce(&context, request, &response);
        if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(NodeRegistryTest, EachNodeScrapesItsOwnValues) {
  Node* a = Open("a", /*cluster=*/true);
  Node* b = Open("b", /*cluster=*/true);
  Node* local = Open("local", /*cluster=*/false);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(local, nullptr);
  ASSERT_NE(a->MetricsAddress(), b->MetricsAddress());
  Produce(*a, 3);
  Produce(*b, 7);
  Produce(*local, 5);

  // Each Raft node's commit histogram counts its own appends, and its commit
  // index is as far past its own bootstrap entries as it had appends.
  std::string scrape_a;
  std::string scrape_b;
  ASSERT_TRUE(PollUntil([&] {
    scrape_a = Scrape(*a);
    scrape_b = Scrape(*b);
    return Value(scrape_a, "proglog_raft_commit_seconds_count") == 3 &&
           Value(scrape_b, "proglog_raft_commit_seconds_count") == 7 &&
           Value(scrape_b, "proglog_raft_commit_index").value_or(0) -
                   Value(scrape_a, "proglog_raft_commit_index").value_or(0) ==
               4;
  })) << "node a:\n"
      << scrape_a << "\nnode b:\n"
      << scrape_b;
  const std::string scrape_local = Scrape(*local);

  EXPECT_EQ(Value(scrape_a, kProducesOk), 3);
  EXPECT_EQ(Value(scrape_b, kProducesOk), 7);
  EXPECT_EQ(Value(scrape_local, kProducesOk), 5);
  EXPECT_EQ(Value(scrape_a, "proglog_raft_is_leader"), 1);
  EXPECT_EQ(Value(scrape_b, "proglog_raft_is_leader"), 1);
  // The local node has no Raft, and its log holds its five records alone.
  EXPECT_TRUE(Values(scrape_local, "proglog_raft_commit_index").empty());
  EXPECT_EQ(Value(scrape_local, "proglog_log_next_offset"), 5);
  EXPECT_EQ(Value(scrape_local, "proglog_log_records_total"), 5);
  // The Raft logs hold their own entries: b has four more than a.
  EXPECT_EQ(Value(scrape_b, "proglog_log_records_total").value_or(0) -
                Value(scrape_a, "proglog_log_records_total").value_or(0),
            4);
  // Per-node series appear once per scrape, and so do the process-wide ones.
  for (const std::string* scrape :
       std::vector<const std::string*>{&scrape_a, &scrape_b, &scrape_local}) {
    EXPECT_EQ(Values(*scrape, "proglog_log_segments").size(), 1u) << *scrape;
    EXPECT_EQ(Values(*scrape, "proglog_data_dir_free_bytes").size(), 1u) << *scrape;
    EXPECT_EQ(Values(*scrape, "process_start_time_seconds").size(), 1u) << *scrape;
  }
}

}  // namespace
}  // namespace proglog::node
