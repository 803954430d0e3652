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

}  // namespace

telemetry::CollectorHandle RegisterLogMetrics(std::function<std::shared_ptr<log::Log>()> current) {
  return telemetry::DefaultRegistry()->AddCollector(
      [current = std::move(current)](std::vector<FamilySnapshot>* out) {
        std::shared_ptr<log::Log> log = current();
        if (log == nullptr) return;
        const log::Log::Stats stats = log->GetStats();
        out->push_back(Single("proglog_log_appends_total", "Acknowledged appends (calls).",
                              MetricType::kCounter, static_cast<double>(stats.appends)));
        out->push_back(Single("proglog_log_records_total", "Acknowledged records.",
                              MetricType::kCounter, static_cast<double>(stats.records)));
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

telemetry::CollectorHandle RegisterMembershipMetrics(const PeerDirectory* peers) {
  return telemetry::DefaultRegistry()->AddCollector([peers](std::vector<FamilySnapshot>* out) {
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

RaftMetrics::RaftMetrics() {
  telemetry::Registry* registry = telemetry::DefaultRegistry();
  term_ = registry->GetGauge("proglog_raft_term", "Current Raft term.");
  commit_index_ = registry->GetGauge("proglog_raft_commit_index", "Highest committed Raft index.");
  applied_index_ = registry->GetGauge("proglog_raft_applied_index", "Highest applied Raft index.");
  is_leader_ = registry->GetGauge("proglog_raft_is_leader", "1 if this node is the Raft leader.");
  leader_changes_ = registry->GetCounter("proglog_raft_leader_changes_total",
                                         "Times this node saw a new leader.");
  snapshots_received_ = registry->GetCounter("proglog_raft_snapshots_received_total",
                                             "Snapshots this node restored from a leader.");
  commit_seconds_ = registry->GetHistogram("proglog_raft_commit_seconds",
                                           "Time from proposing an append to its commit and apply.",
                                           telemetry::LatencyBuckets());
}

void RaftMetrics::Record(const raft::Raft& raft, const PeerDirectory& peers) {
  term_->Set(static_cast<double>(raft.Term()));
  commit_index_->Set(static_cast<double>(raft.Commit()));
  applied_index_->Set(static_cast<double>(raft.Applied()));
  const bool leading = raft.CurrentRole() == raft::Role::kLeader;
  is_leader_->Set(leading ? 1 : 0);
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
      gauge = telemetry::DefaultRegistry()->GetGauge(
          "proglog_raft_replication_lag_entries",
          "Entries the leader has that a peer has not acknowledged.", {{"peer", peer.name}});
    }
    const uint64_t match = raft.MatchOf(peer.id);
    gauge->Set(static_cast<double>(last > match ? last - match : 0));
    stale.erase(peer.name);
  }
  for (auto& [name, gauge] : stale) gauge->Set(0);
}

}  // namespace proglog::node::internal
