// The Serf side of the engine: join/leave intents with the member Lamport
// clock, member statuses (alive/leaving/left/failed), the Serf push/pull
// state, query acks and relays, reaping, reconnects, and events.
#include <algorithm>

#include "core/discovery/engine.h"
#include "spdlog/spdlog.h"

namespace proglog::discovery {
namespace {

constexpr absl::Duration kIntentTimeout = absl::Minutes(5);
constexpr uint32_t kQueryFlagAck = 1;
constexpr uint32_t kQueryFlagNoBroadcast = 2;
constexpr uint64_t kRecentWindow = 512;  // Serf's event and query buffers

// True if `ltime` is too far behind `clock` for Serf to still care about it.
bool TooOld(uint64_t ltime, uint64_t clock) {
  return clock > kRecentWindow && ltime < clock - kRecentWindow;
}

// Drops remembered entries that fell out of the window.
template <typename Map>
void ForgetOld(Map& seen, uint64_t clock) {
  if (clock > kRecentWindow) seen.erase(seen.begin(), seen.lower_bound(clock - kRecentWindow));
}

}  // namespace

void Membership::Impl::OnSerfMessage(std::string_view msg) {
  if (msg.empty()) {
    ++stats_.packets_dropped;
    return;
  }
  std::string_view body = msg.substr(1);
  switch (static_cast<SerfType>(msg[0])) {
    case SerfType::kJoin: {
      auto m = DecodeJoinIntent(body);
      if (!m.ok()) break;
      if (OnJoinIntent(*m)) QueueBroadcast("", EncodeJoinIntent(*m));
      return;
    }
    case SerfType::kLeave: {
      auto m = DecodeLeaveIntent(body);
      if (!m.ok()) break;
      if (OnLeaveIntent(*m)) QueueBroadcast("", EncodeLeaveIntent(*m));
      return;
    }
    case SerfType::kUserEvent: {
      auto m = DecodeUserEvent(body);
      if (!m.ok()) break;
      if (OnUserEvent(*m))
        QueueBroadcast("", Bytes(1, static_cast<char>(MsgType::kUser)) + Bytes(msg));
      return;
    }
    case SerfType::kQuery: {
      auto m = DecodeQuery(body);
      if (!m.ok()) break;
      if (OnQuery(*m)) QueueBroadcast("", Bytes(1, static_cast<char>(MsgType::kUser)) + Bytes(msg));
      return;
    }
    case SerfType::kRelay: {
      auto m = DecodeRelay(body);
      if (!m.ok()) break;
      OnRelay(*m);
      return;
    }
    case SerfType::kQueryResponse: {
      if (!DecodeQueryResponse(body).ok()) break;
      return;  // we never send queries, so no response is ours
    }
    default:
      break;
  }
  ++stats_.packets_dropped;
}

bool Membership::Impl::OnJoinIntent(const JoinIntent& m) {
  member_clock_.Witness(m.ltime);
  auto it = nodes_.find(m.node);
  if (it == nodes_.end()) {
    // Remember it for when the node itself shows up.
    Intent& in = intents_[m.node];
    if (in.ltime != 0 && m.ltime <= in.ltime) return false;
    in = Intent{m.ltime, false, absl::Now()};
    return true;
  }
  NodeRecord& n = it->second;
  if (m.ltime <= n.status_ltime) return false;
  n.status_ltime = m.ltime;
  if (n.status == MemberStatus::kLeaving) n.status = MemberStatus::kAlive;
  return true;
}

bool Membership::Impl::OnLeaveIntent(const LeaveIntent& m) {
  member_clock_.Witness(m.ltime);
  auto it = nodes_.find(m.node);
  if (it == nodes_.end()) {
    Intent& in = intents_[m.node];
    if (in.ltime != 0 && m.ltime <= in.ltime) return false;
    in = Intent{m.ltime, true, absl::Now()};
    return true;
  }
  NodeRecord& n = it->second;
  if (m.ltime <= n.status_ltime) return false;
  if (m.node == config_.node_name && !leaving_) {
    BroadcastJoinIntent();  // refute: we are not leaving
    return false;
  }
  n.status_ltime = m.ltime;
  switch (n.status) {
    case MemberStatus::kAlive:
      n.status = MemberStatus::kLeaving;
      n.status_change = absl::Now();
      break;
    case MemberStatus::kFailed:
      n.status = MemberStatus::kLeft;
      n.status_change = absl::Now();
      Emit(EventType::kLeave, n);
      break;
    default:
      break;
  }
  // `serf force-leave -prune`: forget the member now instead of after the
  // tombstone timeout. A live member keeps its record until it has left.
  if (m.prune && m.node != config_.node_name && n.status == MemberStatus::kLeft) {
    Emit(EventType::kReap, n);
    nodes_.erase(it);
  }
  return true;
}

bool Membership::Impl::OnUserEvent(const UserEvent& m) {
  event_clock_.Witness(m.ltime);
  if (TooOld(m.ltime, event_clock_.Time())) return false;
  bool fresh = seen_events_[m.ltime].insert(m.name + '\0' + m.payload).second;
  ForgetOld(seen_events_, event_clock_.Time());
  if (fresh) ++stats_.user_events_seen;
  return fresh;  // user events are not delivered: proglog has no use for them
}

bool Membership::Impl::OnQuery(const Query& m) {
  query_clock_.Witness(m.ltime);
  if (TooOld(m.ltime, query_clock_.Time())) return false;
  bool fresh = seen_queries_[m.ltime].insert(m.id).second;
  ForgetOld(seen_queries_, query_clock_.Time());
  if (!fresh) return false;
  ++stats_.queries_seen;
  // We answer only the "ack" part of queries addressed to everyone; filters
  // would need evaluating, and none of our handlers consume query payloads.
  bool ours = m.filters == 0 && m.name.rfind("_serf_", 0) != 0;
  if ((m.flags & kQueryFlagAck) != 0 && ours && m.addr.size() == 4) {
    QueryResponse ack{m.ltime, m.id, config_.node_name, kQueryFlagAck, {}};
    SendPacket(Endpoint{m.addr, m.port}, EncodeQueryResponse(ack), false);
  }
  return (m.flags & kQueryFlagNoBroadcast) == 0;
}

void Membership::Impl::OnRelay(const Relay& m) {
  if (m.dest_ip.size() != 4 || m.dest_port == 0) {
    ++stats_.packets_dropped;
    return;
  }
  Bytes msg(1, static_cast<char>(MsgType::kUser));
  msg += m.inner;
  SendPacket(Endpoint{m.dest_ip, m.dest_port}, msg, false);
}

void Membership::Impl::SerfNodeJoined(NodeRecord& n) {
  auto tags = DecodeTags(n.meta);
  if (tags.ok()) n.tags = *std::move(tags);
  bool known = n.status_ltime != 0 || n.status != MemberStatus::kAlive;
  n.status = MemberStatus::kAlive;
  n.status_change = absl::Now();
  if (!known) {
    auto it = intents_.find(n.name);
    if (it != intents_.end()) {
      n.status_ltime = it->second.ltime;
      if (it->second.leave) n.status = MemberStatus::kLeaving;
      intents_.erase(it);
    }
  }
  Emit(EventType::kJoin, n);
}

void Membership::Impl::SerfNodeLeft(NodeRecord& n) {
  if (n.status == MemberStatus::kLeaving) {
    n.status = MemberStatus::kLeft;
    n.status_change = absl::Now();
    Emit(EventType::kLeave, n);
  } else if (n.status == MemberStatus::kAlive) {
    n.status = MemberStatus::kFailed;
    n.status_change = absl::Now();
    Emit(EventType::kFailed, n);
  }
}

void Membership::Impl::MergeSerfState(const SerfPushPull& s) {
  if (s.ltime > 0) member_clock_.Witness(s.ltime - 1);
  if (s.event_ltime > 0) event_clock_.Witness(s.event_ltime - 1);
  if (s.query_ltime > 0) query_clock_.Witness(s.query_ltime - 1);
  // A left member's leave came after its last join, so replay it one tick later.
  std::set<std::string> left(s.left_members.begin(), s.left_members.end());
  for (const std::string& name : s.left_members) {
    auto it = s.status_ltimes.find(name);
    uint64_t ltime = it == s.status_ltimes.end() ? 1 : it->second + 1;
    OnLeaveIntent(LeaveIntent{ltime, name, false});
  }
  for (const auto& [name, ltime] : s.status_ltimes) {
    if (left.count(name) == 0) OnJoinIntent(JoinIntent{ltime, name});
  }
}

Bytes Membership::Impl::LocalSerfState() {
  SerfPushPull s;
  s.ltime = member_clock_.Time();
  s.event_ltime = event_clock_.Time();
  s.query_ltime = query_clock_.Time();
  for (const auto& [name, n] : nodes_) {
    s.status_ltimes[name] = n.status_ltime;
    if (n.status == MemberStatus::kLeft) s.left_members.push_back(name);
  }
  return EncodeSerfPushPull(s);
}

void Membership::Impl::BroadcastJoinIntent() {
  JoinIntent j{member_clock_.Time(), config_.node_name};
  member_clock_.Witness(j.ltime);
  OnJoinIntent(j);
  QueueBroadcast("", EncodeJoinIntent(j));
}

void Membership::Impl::Reap() {
  absl::Time now = absl::Now();
  const Timings& t = config_.timings;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    NodeRecord& n = it->second;
    bool expired =
        it->first != config_.node_name &&
        ((n.status == MemberStatus::kFailed && now - n.status_change > t.reconnect_timeout) ||
         (n.status == MemberStatus::kLeft && now - n.status_change > t.tombstone_timeout));
    if (expired) {
      Emit(EventType::kReap, n);
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(intents_, [&](const auto& kv) { return now - kv.second.seen > kIntentTimeout; });
}

void Membership::Impl::ReconnectOnce() {
  if (leaving_) return;
  std::vector<Endpoint> failed;
  for (const auto& [name, n] : nodes_) {
    if (n.status == MemberStatus::kFailed) failed.push_back(n.endpoint);
  }
  if (failed.empty()) return;
  Endpoint to = failed[std::uniform_int_distribution<size_t>(0, failed.size() - 1)(rng_)];
  RunWorker([this, to] { PushPullWith(to, true).IgnoreError(); });
}

Member Membership::Impl::ToMember(const NodeRecord& n) const {
  return Member{n.name, n.endpoint.ToString(), n.tags, n.status};
}

void Membership::Impl::Emit(EventType type, const NodeRecord& n) {
  absl::MutexLock lock(&events_mu_);
  if (!events_closed_) events_.push_back(MemberEvent{type, ToMember(n)});
}

// ---------------------------------------------------------------- public operations

absl::Status Membership::Impl::Join(const std::vector<std::string>& addrs) {
  absl::Status last = absl::InvalidArgumentError("no join address given");
  int joined = 0;
  for (const std::string& addr : addrs) {
    auto ep = ParseEndpoint(addr);
    if (!ep.ok()) {
      last = ep.status();
      continue;
    }
    absl::Status s = PushPullWith(*ep, true);
    if (s.ok()) {
      ++joined;
    } else {
      last = s;
    }
  }
  if (joined == 0) return last;
  absl::MutexLock lock(&mu_);
  BroadcastJoinIntent();
  return absl::OkStatus();
}

absl::Status Membership::Impl::WaitBroadcast(uint64_t id, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this, id]()
                  ABSL_NO_THREAD_SAFETY_ANALYSIS { return Stopping() || BroadcastDone(id); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return absl::DeadlineExceededError("broadcast did not go out in time");
  }
  return absl::OkStatus();
}

absl::Status Membership::Impl::Leave() {
  if (Stopping()) return absl::FailedPreconditionError("membership is shut down");
  uint64_t intent_id = 0, dead_id = 0;
  bool others = false;
  {
    absl::MutexLock lock(&mu_);
    if (leaving_) return absl::OkStatus();
    leaving_ = true;
    LeaveIntent intent{member_clock_.Time(), config_.node_name, false};
    member_clock_.Increment();
    OnLeaveIntent(intent);
    others = AliveCount() > 0;
    if (others) intent_id = QueueBroadcast("", EncodeLeaveIntent(intent));
  }
  // Serf shows a graceful leave only if the intent arrives before the dead.
  if (others) WaitBroadcast(intent_id, config_.timings.broadcast_timeout).IgnoreError();
  {
    absl::MutexLock lock(&mu_);
    NodeRecord& me = nodes_.at(config_.node_name);
    me.state = NodeState::kLeft;
    me.state_change = absl::Now();
    dead_id = QueueBroadcast(me.name, EncodeDead(Dead{me.incarnation, me.name, me.name}));
  }
  if (others) {
    WaitBroadcast(dead_id, config_.timings.broadcast_timeout).IgnoreError();
    // Alone, there is no one to tell.
    SleepUnlessStopping(config_.timings.leave_propagate_delay);
  }
  absl::MutexLock lock(&mu_);
  NodeRecord& me = nodes_.at(config_.node_name);
  me.status = MemberStatus::kLeft;
  return absl::OkStatus();
}

std::vector<Member> Membership::Impl::Members() const {
  absl::MutexLock lock(&mu_);
  std::vector<Member> out;
  for (const auto& [name, n] : nodes_) out.push_back(ToMember(n));
  return out;
}

Member Membership::Impl::Self() const {
  absl::MutexLock lock(&mu_);
  return ToMember(nodes_.at(config_.node_name));
}

absl::Status Membership::Impl::SetTags(std::map<std::string, std::string> tags) {
  Bytes meta = EncodeTags(tags);
  if (meta.size() > 512) return absl::InvalidArgumentError("encoded tags exceed 512 bytes");
  absl::MutexLock lock(&mu_);
  if (leaving_) return absl::FailedPreconditionError("node is leaving");
  NodeRecord& me = nodes_.at(config_.node_name);
  me.meta = std::move(meta);
  me.tags = std::move(tags);
  ++me.incarnation;
  BroadcastSelfAlive();
  return absl::OkStatus();
}

GossipStats Membership::Impl::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace proglog::discovery
