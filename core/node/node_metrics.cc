#include "core/node/node_metrics.h"

#include <utility>
#include <vector>

namespace proglog::node::internal {
namespace {

using telemetry::FamilySnapshot;
using telemetry::MetricType;
using telemetry::Sample;

FamilySnapshot Single(const char* name, const char* help, MetricType type, double value) {
  return FamilySnapshot{name, help, type, {Sample{{}, value}}, {}};
}

telemetry::Registry* OrDefault(telemetry::Registry* registry) {
  return registry != nullptr ? registry : telemetry::DefaultRegistry();
}

}  // namespace

telemetry::CollectorHandle RegisterLogMetrics(telemetry::Registry* registry,
                                              std::function<std::shared_ptr<log::Log>()> current) {
  return OrDefault(registry)->AddCollector(
      [current = std::move(current)](std::vector<FamilySnapshot>* out) {
        std::shared_ptr<log::Log> log = current();
        if (log == nullptr) return;
        const log::Log::Stats stats = log->GetStats();
        out->push_back(Single("proglog_log_appends_total", "Acknowledged appends (calls).",
                              MetricType::kCounter, static_cast<double>(stats.appends)));
        out->push_back(Single("proglog_log_records_total", "Acknowledged records.",
                              MetricType::kCounter, static_cast<double>(stats.records)));
        out->push_back(Single("proglog_log_appended_bytes_total",
                              "Value bytes of the acknowledged records.", MetricType::kCounter,
                              static_cast<double>(stats.bytes)));
        out->push_back(Single("proglog_log_fsyncs_total", "fdatasync calls on log store files.",
                              MetricType::kCounter, static_cast<double>(stats.syncs)));
        out->push_back(Single("proglog_log_group_commits_total",
                              "Group commits: fsyncs that acknowledged appends.",
                              MetricType::kCounter, static_cast<double>(stats.groups)));
        out->push_back(Single("proglog_log_segments", "Segments the log holds.", MetricType::kGauge,
                              static_cast<double>(log->Segments().size())));
        out->push_back(Single("proglog_log_size_bytes", "Bytes the log's files take on disk.",
                              MetricType::kGauge, static_cast<double>(log->SizeBytes())));
        out->push_back(Single("proglog_log_lowest_offset", "Lowest offset kept.",
                              MetricType::kGauge, static_cast<double>(log->LowestOffset())));
        out->push_back(Single("proglog_log_next_offset", "Offset the next record gets.",
                              MetricType::kGauge, static_cast<double>(log->NextOffset())));
      });
}

telemetry::CollectorHandle RegisterMembershipMetrics(telemetry::Registry* registry,
                                                     const PeerDirectory* peers) {
  return OrDefault(registry)->AddCollector([peers](std::vector<FamilySnapshot>* out) {
    std::map<std::string, double> by_status = {
        {"alive", 0}, {"leaving", 0}, {"left", 0}, {"failed", 0}};
    for (const Peer& peer : peers->All()) by_status[discovery::MemberStatusName(peer.status)] += 1;
    FamilySnapshot family{
        "proglog_gossip_members", "Gossip members known, by status.", MetricType::kGauge, {}, {}};
    for (const auto& [status, count] : by_status) {
      family.samples.push_back(Sample{{{"status", status}}, count});
    }
    out->push_back(std::move(family));
  });
}

telemetry::CollectorHandle RegisterMuxMetrics(telemetry::Registry* registry, const mux::Mux* mux) {
  return OrDefault(registry)->AddCollector([mux](std::vector<FamilySnapshot>* out) {
    const mux::Stats stats = mux->GetStats();
    FamilySnapshot connections{"proglog_mux_connections_total",
                               "Connections the RPC port accepted, by what became of them: "
                               "grpc, raft, or why they were closed.",
                               MetricType::kCounter,
                               {},
                               {}};
    const std::pair<const char*, uint64_t> kinds[] = {
        {"grpc", stats.grpc},
        {"raft", stats.raft},
        {"timed_out", stats.timed_out},
        {"closed_early", stats.closed_early},
        {"raft_tls_refused", stats.raft_tls_refused},
        {"raft_garbage", stats.raft_garbage},
        {"unserved", stats.unserved},
        {"over_capacity", stats.over_capacity},
    };
    for (const auto& [kind, count] : kinds) {
      connections.samples.push_back(Sample{{{"kind", kind}}, static_cast<double>(count)});
    }
    out->push_back(std::move(connections));
  });
}

telemetry::CollectorHandle RegisterGossipMetrics(telemetry::Registry* registry,
                                                 const discovery::Membership* gossip) {
  return OrDefault(registry)->AddCollector([gossip](std::vector<FamilySnapshot>* out) {
    const discovery::GossipStats stats = gossip->Stats();
    auto by_transport = [](const char* name, const char* help, uint64_t udp, uint64_t tcp) {
      return FamilySnapshot{name,
                            help,
                            MetricType::kCounter,
                            {Sample{{{"transport", "udp"}}, static_cast<double>(udp)},
                             Sample{{{"transport", "tcp"}}, static_cast<double>(tcp)}},
                            {}};
    };
    out->push_back(by_transport("proglog_gossip_sent_bytes_total", "Gossip bytes sent.",
                                stats.udp_bytes_sent, stats.tcp_bytes_sent));
    out->push_back(by_transport("proglog_gossip_received_bytes_total", "Gossip bytes received.",
                                stats.udp_bytes_received, stats.tcp_bytes_received));
    out->push_back(Single("proglog_gossip_probe_failures_total",
                          "Failure-detector probes that got no acknowledgement.",
                          MetricType::kCounter, static_cast<double>(stats.probes_failed)));
    out->push_back(Single("proglog_gossip_dropped_packets_total",
                          "Gossip packets dropped: malformed, oversized or undecryptable.",
                          MetricType::kCounter, static_cast<double>(stats.packets_dropped)));
  });
}

RaftMetrics::RaftMetrics(telemetry::Registry* registry) : registry_(OrDefault(registry)) {
  term_ = registry_->GetGauge("proglog_raft_term", "Current Raft term.");
  commit_index_ = registry_->GetGauge("proglog_raft_commit_index", "Highest committed Raft index.");
  applied_index_ = registry_->GetGauge("proglog_raft_applied_index", "Highest applied Raft index.");
  is_leader_ = registry_->GetGauge("proglog_raft_is_leader", "1 if this node is the Raft leader.");
  leader_changes_ = registry_->GetCounter("proglog_raft_leader_changes_total",
                                          "Times this node saw a new leader.");
  snapshots_received_ = registry_->GetCounter("proglog_raft_snapshots_received_total",
                                              "Snapshots this node restored from a leader.");
  snapshots_sent_ =
      registry_->GetCounter("proglog_raft_snapshots_sent_total",
                            "Snapshots this node sent to a follower as leader, in full "
                            "and acknowledged.");
  commit_seconds_ = registry_->GetHistogram(
      "proglog_raft_commit_seconds", "Time from proposing an append to its commit and apply.",
      telemetry::LatencyBuckets());
}

void RaftMetrics::Record(const raft::Raft& raft, const PeerDirectory& peers) {
  term_->Set(static_cast<double>(raft.Term()));
  commit_index_->Set(static_cast<double>(raft.Commit()));
  applied_index_->Set(static_cast<double>(raft.Applied()));
  const bool leading = raft.CurrentRole() == raft::Role::kLeader;
  is_leader_->Set(leading ? 1 : 0);
  if (raft.SnapshotsSent() > snapshots_sent_seen_) {
    snapshots_sent_->Increment(raft.SnapshotsSent() - snapshots_sent_seen_);
    snapshots_sent_seen_ = raft.SnapshotsSent();
  }
  if (raft.Leader() != last_leader_) {
    last_leader_ = raft.Leader();
    if (last_leader_ != raft::kNoNode) leader_changes_->Increment();
  }
  std::map<std::string, telemetry::Gauge*> stale = lag_;
  const uint64_t last = raft.Log().LastIndex();
  for (const Peer& peer : leading ? peers.All() : std::vector<Peer>{}) {
    if (peer.id == raft.Id() || !(raft.Conf().IsVoter(peer.id) || raft.Conf().IsLearner(peer.id))) {
      continue;
    }
    telemetry::Gauge*& gauge = lag_[peer.name];
    if (gauge == nullptr) {
      gauge = registry_->GetGauge("proglog_raft_replication_lag_entries",
                                  "Entries the leader has that a peer has not acknowledged.",
                                  {{"peer", peer.name}});
    }
    const uint64_t match = raft.MatchOf(peer.id);
    gauge->Set(static_cast<double>(last > match ? last - match : 0));
    stale.erase(peer.name);
  }
  for (auto& [name, gauge] : stale) gauge->Set(0);
}

}  // namespace proglog::node::internal
