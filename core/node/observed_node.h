// Internal to core/node: a Node together with its metrics registry and the
// telemetry (the /metrics endpoint and the tracer) that Config::telemetry asks
// for. The
// telemetry starts before the node, so a node that fails to open reports
// nothing stale, and stops after it, so no RPC outlives the tracer.
#ifndef PROGLOG_CORE_NODE_OBSERVED_NODE_H_
#define PROGLOG_CORE_NODE_OBSERVED_NODE_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "core/node/node.h"

namespace proglog::node::internal {

// Makes the node's registry (passed to `open` as config.log.metrics), starts
// the telemetry of `config.telemetry` on it, then the node `open` returns.
absl::StatusOr<std::unique_ptr<Node>> OpenObserved(
    Config config, const std::function<absl::StatusOr<std::unique_ptr<Node>>(Config)>& open);

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_OBSERVED_NODE_H_
