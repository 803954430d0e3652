// Internal to core/node: the node of a cluster (Config::cluster.enabled).
#ifndef PROGLOG_CORE_NODE_CLUSTER_NODE_H_
#define PROGLOG_CORE_NODE_CLUSTER_NODE_H_

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "core/node/node.h"

namespace proglog::node::internal {

// Opens the Raft storage in `config.data_dir`/raft, listens on the RPC port
// through the mux, joins gossip and starts replicating. REQUIRES: the data dir
// was prepared and the node name set.
absl::StatusOr<std::unique_ptr<Node>> OpenClusterNode(Config config);

// Each kind of node keeps its records in its own folder of the data dir: a
// node without a cluster in log/, a cluster node in raft/. InvalidArgument,
// naming the kind that wrote it, when `data_dir` holds the other kind's (a node
// opened on it would start an empty log beside them and hide them). An
// unreadable dir passes: the storage's open reports it.
absl::Status CheckDataDirKind(const std::filesystem::path& data_dir, bool cluster);

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_CLUSTER_NODE_H_
