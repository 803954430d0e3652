// The cluster options of proglog_node_options (version 2): an embedded node
// that bootstraps a cluster, the checks that name a C field, and callers built
// against version 1 of the struct.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "proglog/proglog.h"
#include "tests/testing/scratch_dir.h"

namespace {

namespace fs = std::filesystem;

// A 16-byte key in base64, as `serf keygen` prints one.
constexpr char kGossipKey[] = "AAECAwQFBgcICQoLDA0ODw==";

std::string Value(const proglog_record* record) {
  size_t len = 0;
  const void* data = proglog_record_value(record, &len);
  return std::string(static_cast<const char*>(data), len);
}

class CapiClusterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    proglog_client_free(client_);
    proglog_node_free(node_);
  }

  // Options of a node that bootstraps a one-voter cluster, gossiping on a free port.
  proglog_node_options ClusterOptions() {
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    opts.data_dir = dir_.c_str();
    opts.node_name = "capi-cluster";
    opts.cluster = 1;
    opts.bind_addr = "127.0.0.1:0";
    opts.bootstrap = 1;
    return opts;
  }

  // Opens a node that must fail with EINVAL; returns the error's message.
  static std::string OpenError(const proglog_node_options& opts) {
    proglog_node* node = nullptr;
    proglog_error* err = nullptr;
    const int rc = proglog_node_open(&node, &opts, &err);
    EXPECT_EQ(rc, PROGLOG_EINVAL);
    EXPECT_EQ(node, nullptr);
    proglog_node_free(node);
    std::string message = err ? proglog_error_message(err) : "(no error object)";
    if (err) {
      EXPECT_EQ(proglog_error_code(err), PROGLOG_EINVAL);
    }
    proglog_error_free(err);
    return message;
  }

  void OpenClient() {
    const char* addresses[] = {proglog_node_address(node_)};
    proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
    opts.addresses = addresses;
    opts.address_count = 1;
    opts.timeout_ms = 5000;
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_client_open(&client_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  }

  // Produces through the client until the node has become the leader (a
  // retryable refusal before that) or the deadline passes.
  uint64_t ProduceOnceLeader(const std::string& value) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string last = "no attempt";
    while (std::chrono::steady_clock::now() < deadline) {
      uint64_t offset = 0;
      proglog_error* err = nullptr;
      const int rc = proglog_client_produce(&offset, client_, value.data(), value.size(), &err);
      if (rc == PROGLOG_OK) return offset;
      last = err ? proglog_error_message(err) : proglog_code_name(rc);
      const bool retryable = err && proglog_error_retryable(err);
      proglog_error_free(err);
      if (!retryable) {
        ADD_FAILURE() << "produce failed for good: " << last;
        return 0;
      }
      usleep(20 * 1000);
    }
    ADD_FAILURE() << "no leader within 30s; last error: " << last;
    return 0;
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown
  // Not made yet: some tests check that a refused open does not make it.
  const fs::path dir_ = scratch_.path() / "node";
  proglog_node* node_ = nullptr;
  proglog_client* client_ = nullptr;
};

TEST_F(CapiClusterTest, BootstrappedNodeLeadsAndServesProduceConsume) {
  proglog_node_options opts = ClusterOptions();
  opts.gossip_key = kGossipKey;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  const std::string gossip = proglog_node_gossip_address(node_);
  ASSERT_EQ(gossip.rfind("127.0.0.1:", 0), 0u) << gossip;
  EXPECT_NE(gossip, "127.0.0.1:0");  // the port actually bound
  ASSERT_NO_FATAL_FAILURE(OpenClient());

  const uint64_t offset = ProduceOnceLeader("replicated");
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_client_consume(&record, client_, offset, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "replicated");
  proglog_record_free(record);
  // The local calls go through Raft as well.
  uint64_t local = 0;
  ASSERT_EQ(proglog_node_append(&local, node_, "local", 5, nullptr), PROGLOG_OK);
  EXPECT_GT(local, offset);
  ASSERT_EQ(proglog_node_read(&record, node_, offset, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "replicated");
  proglog_record_free(record);

  proglog_server_list* list = nullptr;
  ASSERT_EQ(proglog_client_servers(&list, client_, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_server_list_count(list), 1u);
  EXPECT_STREQ(proglog_server_list_id(list, 0), "capi-cluster");
  EXPECT_STREQ(proglog_server_list_rpc_addr(list, 0), proglog_node_address(node_));
  EXPECT_EQ(proglog_server_list_is_leader(list, 0), 1);
  proglog_server_list_free(list);

  // Both addresses stay readable after close.
  ASSERT_EQ(proglog_node_close(node_, nullptr), PROGLOG_OK);
  EXPECT_EQ(proglog_node_gossip_address(node_), gossip);
}

TEST_F(CapiClusterTest, JoinedNodeReplicatesAndRefusesLocalAppendsNamingTheLeader) {
  proglog_node_options opts = ClusterOptions();
  ASSERT_EQ(proglog_node_open(&node_, &opts, nullptr), PROGLOG_OK);
  ASSERT_NO_FATAL_FAILURE(OpenClient());
  const uint64_t offset = ProduceOnceLeader("before the join");

  const fs::path joiner_dir = dir_ / "joiner";
  const char* joins[] = {proglog_node_gossip_address(node_)};
  proglog_node_options joiner_opts = PROGLOG_NODE_OPTIONS_INIT;
  joiner_opts.data_dir = joiner_dir.c_str();
  joiner_opts.node_name = "capi-joiner";
  joiner_opts.cluster = 1;
  joiner_opts.bind_addr = "127.0.0.1:0";
  joiner_opts.start_join_addrs = joins;
  joiner_opts.start_join_addr_count = 1;
  proglog_node* joiner = nullptr;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&joiner, &joiner_opts, &err), PROGLOG_OK)
      << proglog_error_message(err);

  // The record appended before the join reaches the new node.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  proglog_record* record = nullptr;
  while (proglog_node_read(&record, joiner, offset, nullptr) != PROGLOG_OK &&
         std::chrono::steady_clock::now() < deadline) {
    usleep(20 * 1000);
  }
  ASSERT_NE(record, nullptr) << "the record did not reach the joined node within 30s";
  EXPECT_EQ(Value(record), "before the join");
  proglog_record_free(record);

  uint64_t ignored = 0;
  EXPECT_EQ(proglog_node_append(&ignored, joiner, "refused", 7, &err), PROGLOG_ENOTLEADER);
  ASSERT_NE(err, nullptr);
  EXPECT_TRUE(proglog_error_retryable(err));
  ASSERT_NE(proglog_error_leader(err), nullptr) << proglog_error_message(err);
  EXPECT_STREQ(proglog_error_leader(err), proglog_node_address(node_));
  proglog_error_free(err);
  proglog_node_free(joiner);
}

TEST_F(CapiClusterTest, NodeWithoutClusterHasNoGossipAddress) {
  proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
  opts.data_dir = dir_.c_str();
  ASSERT_EQ(proglog_node_open(&node_, &opts, nullptr), PROGLOG_OK);
  EXPECT_STREQ(proglog_node_gossip_address(node_), "");
  EXPECT_EQ(proglog_node_gossip_address(nullptr), nullptr);
}

TEST_F(CapiClusterTest, MalformedGossipKeyIsEinvalNamingTheOptionNotTheKey) {
  proglog_node_options opts = ClusterOptions();
  opts.gossip_key = "c2hvcnQ=";  // valid base64, 5 bytes: too short for a key
  const std::string message = OpenError(opts);
  EXPECT_NE(message.find("gossip_key"), std::string::npos) << message;
  EXPECT_EQ(message.find("c2hvcnQ"), std::string::npos) << message;
  opts.gossip_key = "not base64 at all!";
  EXPECT_NE(OpenError(opts).find("gossip_key"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_)) << "a refused option must not create the data dir";
}

TEST_F(CapiClusterTest, ClusterWithoutBindAddrIsEinval) {
  proglog_node_options opts = ClusterOptions();
  opts.bind_addr = nullptr;
  EXPECT_NE(OpenError(opts).find("bind_addr"), std::string::npos);
}

TEST_F(CapiClusterTest, ClusterOptionWithoutClusterIsEinvalNamingIt) {
  proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
  opts.data_dir = dir_.c_str();
  opts.bootstrap = 1;
  EXPECT_NE(OpenError(opts).find("bootstrap"), std::string::npos);
  opts.bootstrap = 0;
  const char* joins[] = {"127.0.0.1:1"};
  opts.start_join_addrs = joins;
  opts.start_join_addr_count = 1;
  EXPECT_NE(OpenError(opts).find("start_join_addrs"), std::string::npos);
}

TEST_F(CapiClusterTest, EmptyStartJoinAddressIsEinvalNamingItsIndex) {
  proglog_node_options opts = ClusterOptions();
  const char* joins[] = {"127.0.0.1:1", ""};
  opts.start_join_addrs = joins;
  opts.start_join_addr_count = 2;
  EXPECT_NE(OpenError(opts).find("start_join_addrs[1]"), std::string::npos);
  opts.start_join_addrs = nullptr;
  EXPECT_NE(OpenError(opts).find("start_join_addrs"), std::string::npos);
}

TEST_F(CapiClusterTest, IncompletePeerTlsFilesAreEinvalNamingThem) {
  proglog_node_options opts = ClusterOptions();
  opts.peer_tls_cert_file = "/nonexistent/cert.pem";
  const std::string message = OpenError(opts);
  EXPECT_NE(message.find("peer_tls_key_file"), std::string::npos) << message;
  EXPECT_NE(message.find("peer_tls_ca_file"), std::string::npos) << message;
}

// Each kind of node keeps its records in its own folder of the data dir; the
// other kind would start an empty log beside them, so it is refused, by name.
TEST_F(CapiClusterTest, ADataDirOfTheOtherKindOfNodeIsEinvalSayingWhy) {
  proglog_node_options local = PROGLOG_NODE_OPTIONS_INIT;
  local.data_dir = dir_.c_str();
  ASSERT_EQ(proglog_node_open(&node_, &local, nullptr), PROGLOG_OK);
  proglog_node_free(node_);
  node_ = nullptr;
  const std::string message = OpenError(ClusterOptions());
  EXPECT_NE(message.find("not in a cluster"), std::string::npos) << message;

  const fs::path cluster_dir = scratch_.path() / "cluster";
  proglog_node_options cluster = ClusterOptions();
  cluster.data_dir = cluster_dir.c_str();
  ASSERT_EQ(proglog_node_open(&node_, &cluster, nullptr), PROGLOG_OK);
  proglog_node_free(node_);
  node_ = nullptr;
  local.data_dir = cluster_dir.c_str();
  const std::string reverse = OpenError(local);
  EXPECT_NE(reverse.find("cluster node"), std::string::npos) << reverse;
  EXPECT_FALSE(fs::exists(cluster_dir / "log")) << "a refused open must not start a log";
}

TEST_F(CapiClusterTest, RaftTimingsReachTheNode) {
  // Zero keeps the library defaults, which are consistent: the node opens.
  // Set ones pass through, so an election timeout under twice the heartbeat
  // is refused by the node, and a negative one by the C API.
  proglog_node_options opts = ClusterOptions();
  opts.raft_heartbeat_interval_ms = 100;
  opts.raft_election_timeout_ms = 150;
  std::string message = OpenError(opts);
  EXPECT_NE(message.find("election"), std::string::npos) << message;
  opts.raft_election_timeout_ms = -1;
  message = OpenError(opts);
  EXPECT_NE(message.find("raft_election_timeout_ms"), std::string::npos) << message;
  opts.raft_heartbeat_interval_ms = 20;
  opts.raft_election_timeout_ms = 200;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  ASSERT_NO_FATAL_FAILURE(OpenClient());
  ProduceOnceLeader("timed");
}

// A program compiled against version 1 of the header has a shorter struct: the
// library must neither write nor read past it.
TEST_F(CapiClusterTest, VersionOneCallersKeepASingleLocalLog) {
  constexpr size_t kVersionOneSize = offsetof(proglog_node_options, cluster);
  proglog_node_options opts;
  std::memset(&opts, 0xAB, sizeof opts);
  ASSERT_EQ(proglog_node_options_init(&opts, 1), PROGLOG_OK);
  EXPECT_EQ(opts.version, 1u);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&opts);
  for (size_t i = kVersionOneSize; i < sizeof opts; ++i) {
    ASSERT_EQ(bytes[i], 0xAB) << "proglog_node_options_init(1) wrote byte " << i;
  }
  // Whatever lies after a version 1 struct is not read as cluster options.
  opts.cluster = 1;
  opts.bind_addr = "not an address";
  opts.bootstrap = 1;
  opts.start_join_addrs = nullptr;
  opts.start_join_addr_count = 7;
  opts.data_dir = dir_.c_str();
  opts.node_name = nullptr;
  opts.rpc_host = nullptr;
  opts.durability = nullptr;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  EXPECT_STREQ(proglog_node_gossip_address(node_), "");
  uint64_t offset = 99;
  ASSERT_EQ(proglog_node_append(&offset, node_, "v1", 2, nullptr), PROGLOG_OK);
  EXPECT_EQ(offset, 0u);
}

}  // namespace
