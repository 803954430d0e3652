// core/node/node_metrics: the proglog_* metrics of a node's log, Raft core and
// membership, read from the components at scrape time (collectors) or set by
// the Raft driver thread as its status changes. Internal to core/node.
//
// Thread-safety: the collectors are thread-safe; RaftMetrics::Record runs on
// the driver thread only.
#ifndef PROGLOG_CORE_NODE_NODE_METRICS_H_
#define PROGLOG_CORE_NODE_NODE_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/discovery/membership.h"
#include "core/log/log.h"
#include "core/mux/mux.h"
#include "core/node/peer_directory.h"
#include "core/raft/raft.h"
#include "core/telemetry/metrics.h"

namespace proglog::node::internal {

// Each function records into `registry`, the node's (borrowed, must outlive
// the handle or the RaftMetrics); null: the process's default registry.

// Reports the log that `current` returns (null: nothing) while the handle lives:
// proglog_log_{appends,records,appended_bytes,fsyncs,group_commits}_total, proglog_log_segments,
// proglog_log_size_bytes, proglog_log_lowest_offset, proglog_log_next_offset.
telemetry::CollectorHandle RegisterLogMetrics(telemetry::Registry* registry,
                                              std::function<std::shared_ptr<log::Log>()> current);

// Reports gossip members by status (proglog_gossip_members{status}).
telemetry::CollectorHandle RegisterMembershipMetrics(telemetry::Registry* registry,
                                                     const PeerDirectory* peers);

// Reports the port mux's connections while the handle lives (`mux` must
// outlive it): proglog_mux_connections_total{kind} by what became of each
// accepted connection.
telemetry::CollectorHandle RegisterMuxMetrics(telemetry::Registry* registry, const mux::Mux* mux);

// Reports gossip traffic while the handle lives (`gossip` must outlive it):
// proglog_gossip_{sent,received}_bytes_total{transport}, and
// proglog_gossip_{probe_failures,dropped_packets}_total.
telemetry::CollectorHandle RegisterGossipMetrics(telemetry::Registry* registry,
                                                 const discovery::Membership* gossip);

// Raft gauges and counters, updated by the driver thread.
class RaftMetrics {
 public:
  explicit RaftMetrics(telemetry::Registry* registry);
  // Term, commit and applied index, leader flag, leader changes, snapshots
  // sent and, on the leader, each peer's replication lag in entries.
  void Record(const raft::Raft& raft, const PeerDirectory& peers);
  // Seconds from proposal to commit of one append.
  void ObserveCommit(double seconds) { commit_seconds_->Observe(seconds); }
  void CountSnapshotReceived() { snapshots_received_->Increment(); }

 private:
  telemetry::Registry* const registry_;
  telemetry::Gauge* term_;
  telemetry::Gauge* commit_index_;
  telemetry::Gauge* applied_index_;
  telemetry::Gauge* is_leader_;
  telemetry::Counter* leader_changes_;
  telemetry::Counter* snapshots_received_;
  telemetry::Counter* snapshots_sent_;
  uint64_t snapshots_sent_seen_ = 0;  // the core's count at the last Record
  telemetry::Histogram* commit_seconds_;
  uint64_t last_leader_ = 0;
  // Peers with a lag series, so that a peer that left reads 0 rather than a stale lag.
  std::map<std::string, telemetry::Gauge*> lag_;
};

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_NODE_METRICS_H_
