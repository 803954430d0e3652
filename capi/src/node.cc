// The C API's embedded node: thin wrappers over proglog::node::Node.
#include "core/node/node.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "capi/src/capi_internal.h"
#include "core/discovery/membership.h"
#include "core/server/commit_log.h"

struct proglog_node {
  std::unique_ptr<proglog::node::Node> node;
  // Fixed once open, so they stay readable after close.
  std::string address;
  std::string gossip_address;
};

namespace proglog::capi {
namespace {

int NullHandle(proglog_error** err) { return Fail(PROGLOG_EINVAL, "node is NULL", err); }

// Fail for the node's statuses: a cluster node that is not the leader refuses
// a local append with core/server's NotLeaderError, which names the leader in
// its own payload (the client's refusals carry theirs differently).
int FailNode(const absl::Status& status, proglog_error** err) {
  if (node::IsDataDirInUse(status)) {
    return Fail(PROGLOG_EBUSY, std::string(status.message()).c_str(), err);
  }
  if (std::optional<std::string> leader = server::LeaderAddressOf(status)) {
    return FailNotLeader(status, *std::move(leader), err);
  }
  return Fail(status, err);
}

bool Given(const char* text) { return text != nullptr && text[0] != '\0'; }

// The name of a cluster field set although `cluster` is not, or nullptr.
const char* ClusterFieldWithoutCluster(const proglog_node_options& in) {
  if (Given(in.bind_addr)) return "bind_addr";
  if (Given(in.advertise_host)) return "advertise_host";
  if (in.start_join_addr_count > 0) return "start_join_addrs";
  if (in.bootstrap) return "bootstrap";
  if (Given(in.gossip_key)) return "gossip_key";
  if (in.raft_heartbeat_interval_ms != 0) return "raft_heartbeat_interval_ms";
  if (in.raft_election_timeout_ms != 0) return "raft_election_timeout_ms";
  if (Given(in.peer_tls_cert_file)) return "peer_tls_cert_file";
  if (Given(in.peer_tls_key_file)) return "peer_tls_key_file";
  if (Given(in.peer_tls_ca_file)) return "peer_tls_ca_file";
  return nullptr;
}

// The version 2 fields. Checks that name a C field run here; the rest (address
// syntax, Raft timing, the TLS files themselves) are the node's, and zero
// timings keep the node's defaults.
absl::Status ToClusterConfig(const proglog_node_options& in, node::ClusterConfig& cluster) {
  if (!in.cluster) {
    if (const char* field = ClusterFieldWithoutCluster(in)) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is a cluster option: set cluster"));
    }
    return absl::OkStatus();
  }
  cluster.enabled = true;
  if (!Given(in.bind_addr)) {
    return absl::InvalidArgumentError("bind_addr (the gossip address) is required with cluster");
  }
  cluster.bind_addr = in.bind_addr;
  if (in.advertise_host) cluster.advertise_host = in.advertise_host;
  if (in.start_join_addr_count > 0 && in.start_join_addrs == nullptr) {
    return absl::InvalidArgumentError(
        "start_join_addrs is NULL but start_join_addr_count is not 0");
  }
  for (size_t i = 0; i < in.start_join_addr_count; ++i) {
    if (!Given(in.start_join_addrs[i])) {
      return absl::InvalidArgumentError(absl::StrCat("start_join_addrs[", i, "] is NULL or empty"));
    }
    cluster.start_join_addrs.emplace_back(in.start_join_addrs[i]);
  }
  cluster.bootstrap = in.bootstrap != 0;
  if (Given(in.gossip_key)) {
    // The message must not echo the key itself.
    absl::StatusOr<std::string> key = discovery::ParseGossipKey(in.gossip_key);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid gossip_key: ", key.status().message()));
    }
    cluster.gossip_key = *std::move(key);
  }
  if (in.raft_heartbeat_interval_ms < 0 || in.raft_election_timeout_ms < 0) {
    return absl::InvalidArgumentError(
        "raft_heartbeat_interval_ms and raft_election_timeout_ms must not be negative");
  }
  if (in.raft_heartbeat_interval_ms > 0) {
    cluster.heartbeat_interval = std::chrono::milliseconds(in.raft_heartbeat_interval_ms);
  }
  if (in.raft_election_timeout_ms > 0) {
    cluster.election_timeout = std::chrono::milliseconds(in.raft_election_timeout_ms);
  }
  const int tls_files =
      Given(in.peer_tls_cert_file) + Given(in.peer_tls_key_file) + Given(in.peer_tls_ca_file);
  if (tls_files != 0 && tls_files != 3) {
    return absl::InvalidArgumentError(
        "peer TLS needs all of peer_tls_cert_file, peer_tls_key_file and peer_tls_ca_file");
  }
  if (tls_files == 3) {
    cluster.peer_tls_cert_file = in.peer_tls_cert_file;
    cluster.peer_tls_key_file = in.peer_tls_key_file;
    cluster.peer_tls_ca_file = in.peer_tls_ca_file;
  }
  return absl::OkStatus();
}

// The version 3 fields. The sets are checked here so errors name the C
// fields; the node checks the files themselves.
absl::Status ToSecurityConfig(const proglog_node_options& in, node::SecurityConfig& security) {
  const int tls_files =
      Given(in.server_tls_cert_file) + Given(in.server_tls_key_file) + Given(in.server_tls_ca_file);
  if (tls_files != 0 && tls_files != 3) {
    return absl::InvalidArgumentError(
        "client TLS needs all of server_tls_cert_file, server_tls_key_file and "
        "server_tls_ca_file");
  }
  const int acl_files = Given(in.acl_model_file) + Given(in.acl_policy_file);
  if (acl_files == 1) {
    return absl::InvalidArgumentError("the ACL needs both acl_model_file and acl_policy_file");
  }
  if (acl_files == 2 && tls_files == 0) {
    return absl::InvalidArgumentError(
        "acl_model_file and acl_policy_file need server_tls_*: the ACL authorizes the Common Name "
        "of the client certificate, and without TLS there is none");
  }
  auto path = [](const char* text) { return Given(text) ? std::filesystem::path(text) : ""; };
  security.server_tls_cert_file = path(in.server_tls_cert_file);
  security.server_tls_key_file = path(in.server_tls_key_file);
  security.server_tls_ca_file = path(in.server_tls_ca_file);
  security.acl_model_file = path(in.acl_model_file);
  security.acl_policy_file = path(in.acl_policy_file);
  return absl::OkStatus();
}

absl::StatusOr<node::Config> ToConfig(const proglog_node_options& in) {
  node::Config config;
  if (in.data_dir == nullptr || in.data_dir[0] == '\0') {
    return absl::InvalidArgumentError("data_dir is required");
  }
  if (in.rpc_port < 0 || in.rpc_port > 65535) {
    return absl::InvalidArgumentError("rpc_port must be in [0, 65535]");
  }
  config.data_dir = in.data_dir;
  if (in.node_name) config.node_name = in.node_name;  // else the core's default
  if (in.rpc_host) config.rpc_host = in.rpc_host;
  config.rpc_port = in.rpc_port;
  if (in.max_store_bytes) config.log.max_store_bytes = in.max_store_bytes;
  if (in.max_index_bytes) config.log.max_index_bytes = in.max_index_bytes;
  if (in.max_record_bytes) config.log.max_record_bytes = in.max_record_bytes;
  if (in.durability) {
    auto durability = log::Durability::Parse(in.durability);
    if (!durability.ok()) return durability.status();
    config.log.durability = *durability;
  }
  if (absl::Status status = ToClusterConfig(in, config.cluster); !status.ok()) return status;
  if (absl::Status status = ToSecurityConfig(in, config.security); !status.ok()) return status;
  return config;
}

}  // namespace
}  // namespace proglog::capi

using proglog::capi::Fail;
using proglog::capi::Guard;

extern "C" {

int proglog_node_options_init(proglog_node_options* opts, unsigned int version) {
  return proglog::capi::InitOptions(opts, version, proglog::capi::kNodeOptionsSizes);
}

int proglog_node_open(proglog_node** out, const proglog_node_options* opts, proglog_error** err) {
  return Guard(err, [&] {
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    proglog_node_options in;
    if (int rc = proglog::capi::ReadOptions(opts, proglog::capi::kNodeOptionsSizes, &in, err)) {
      return rc;
    }
    auto config = proglog::capi::ToConfig(in);
    if (!config.ok()) return Fail(config.status(), err);
    proglog::capi::PrepareProcess();
    auto node = proglog::node::Node::Open(*std::move(config));
    if (!node.ok()) return proglog::capi::FailNode(node.status(), err);
    auto* handle = new proglog_node{*std::move(node), "", ""};
    handle->address = handle->node->RpcAddress();
    handle->gossip_address = handle->node->GossipAddress();
    *out = handle;
    return int{PROGLOG_OK};
  });
}

int proglog_node_append(uint64_t* out_offset, proglog_node* node, const void* value, size_t len,
                        proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    if (out_offset == nullptr || (value == nullptr && len > 0)) {
      return Fail(PROGLOG_EINVAL, "out_offset and value must not be NULL", err);
    }
    auto offset = node->node->Append(std::string_view(static_cast<const char*>(value), len));
    if (!offset.ok()) return proglog::capi::FailNode(offset.status(), err);
    *out_offset = *offset;
    return int{PROGLOG_OK};
  });
}

int proglog_node_read(proglog_record** out, proglog_node* node, uint64_t offset,
                      proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    auto record = node->node->Read(offset);
    if (!record.ok()) return proglog::capi::FailNode(record.status(), err);
    *out = new proglog_record{std::move(record->value), record->offset};
    return int{PROGLOG_OK};
  });
}

int proglog_node_reload_acl(proglog_node* node, proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    auto acl = node->node->ReloadAcl();
    if (absl::IsFailedPrecondition(acl.status())) {
      return Fail(PROGLOG_EINVAL, "the node was opened without an ACL", err);
    }
    if (!acl.ok()) return Fail(PROGLOG_EINVAL, std::string(acl.status().message()).c_str(), err);
    return int{PROGLOG_OK};
  });
}

const char* proglog_node_address(const proglog_node* node) {
  return node ? node->address.c_str() : nullptr;
}

const char* proglog_node_gossip_address(const proglog_node* node) {
  return node ? node->gossip_address.c_str() : nullptr;
}

int proglog_node_close(proglog_node* node, proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    absl::Status status = node->node->Close();
    if (!status.ok()) return Fail(status, err);
    return int{PROGLOG_OK};
  });
}

void proglog_node_free(proglog_node* node) {
  if (node == nullptr) return;
  try {
    (void)node->node->Close();
  } catch (...) {
    // Freeing must not fail; the node's resources are released by its destructor.
  }
  delete node;
}

}  // extern "C"
