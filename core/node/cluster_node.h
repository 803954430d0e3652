// Internal to core/node: the node of a cluster (Config::cluster.enabled).
#ifndef PROGLOG_CORE_NODE_CLUSTER_NODE_H_
#define PROGLOG_CORE_NODE_CLUSTER_NODE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "core/node/node.h"

namespace proglog::node::internal {

// Opens the Raft storage in `config.data_dir`/raft, listens on the RPC port
// through the mux, joins gossip and starts replicating. REQUIRES: the data dir
// was prepared and the node name set.
absl::StatusOr<std::unique_ptr<Node>> OpenClusterNode(Config config);

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_CLUSTER_NODE_H_
