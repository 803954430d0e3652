// The SWIM side of the engine: threads, the UDP path, probing, suspicion,
// gossip and push/pull. The Serf layer lives in serf_layer.cc.
#include "core/discovery/engine.h"

#include <sys/socket.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace proglog::discovery {
namespace {

constexpr size_t kEncryptOverhead = 29;  // version + nonce + tag
constexpr size_t kCrcOverhead = 5;
constexpr int kMaxConnections = 128;
constexpr size_t kMaxQueuedBroadcasts = 4096;

uint8_t PMax(const Bytes& vsn) { return vsn.size() >= 2 ? static_cast<uint8_t>(vsn[1]) : 0; }

bool IsDown(NodeState s) { return s == NodeState::kDead || s == NodeState::kLeft; }

}  // namespace

Membership::Impl::Impl(Config config, EventHandler handler, Keyring keyring, BoundSockets sockets,
                       Endpoint advertise)
    : config_(std::move(config)),
      handler_(std::move(handler)),
      keyring_(std::move(keyring)),
      sockets_(std::move(sockets)),
      advertise_(std::move(advertise)) {
  absl::MutexLock lock(&mu_);
  uint64_t seed = config_.faults.seed ^ std::hash<std::string>()(config_.node_name);
  rng_.seed(seed);
  fault_rng_.seed(seed * 31 + 7);
  absl::Time now = absl::Now();
  NodeRecord& me = nodes_[config_.node_name];
  me.name = config_.node_name;
  me.endpoint = advertise_;
  me.meta = EncodeTags(config_.tags);
  me.tags = config_.tags;
  me.vsn = OurVsn();
  me.incarnation = 1;
  me.state_change = me.status_change = now;
  BroadcastSelfAlive();
  Emit(EventType::kJoin, me);
  const Timings& t = config_.timings;
  next_push_pull_ = now + Jitter(t.push_pull_interval);
  next_reap_ = now + Jitter(t.reap_interval);
  next_reconnect_ = now + Jitter(t.reconnect_interval);
}

Membership::Impl::~Impl() { Shutdown(); }

void Membership::Impl::StartThreads() {
  event_thread_ = std::thread([this] { EventLoop(); });
  threads_.emplace_back([this] { UdpLoop(); });
  threads_.emplace_back([this] { TcpLoop(); });
  threads_.emplace_back([this] { ProbeLoop(); });
  threads_.emplace_back([this] { GossipLoop(); });
  threads_.emplace_back([this] { StartJoinLoop(); });
}

void Membership::Impl::Shutdown() {
  if (shut_down_.exchange(true)) return;
  stopping_ = true;
  {
    absl::MutexLock lock(&stop_mu_);
    stop_signal_ = true;
  }
  { absl::MutexLock lock(&mu_); }  // re-evaluates conditions that watch stopping_
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  {
    absl::MutexLock lock(&workers_->mu);
    workers_->mu.Await(absl::Condition(
        +[](WorkerCount* w) ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->running == 0; },
        workers_.get()));
  }
  {
    absl::MutexLock lock(&events_mu_);
    events_closed_ = true;
  }
  if (event_thread_.joinable()) event_thread_.join();
  sockets_.udp = Fd();
  sockets_.tcp = Fd();
}

absl::Duration Membership::Impl::Jitter(absl::Duration d) {
  return d * std::uniform_real_distribution<double>(0, 1)(rng_);
}

bool Membership::Impl::SleepUnlessStopping(absl::Duration d) {
  absl::MutexLock lock(&stop_mu_);
  stop_mu_.AwaitWithTimeout(absl::Condition(&stop_signal_), d);
  return stop_signal_;
}

void Membership::Impl::RunWorker(std::function<void()> fn) {
  std::shared_ptr<WorkerCount> count = workers_;
  {
    absl::MutexLock lock(&count->mu);
    ++count->running;
  }
  std::thread([count, fn = std::move(fn)] {
    fn();
    absl::MutexLock lock(&count->mu);
    --count->running;
  }).detach();
}

// ---------------------------------------------------------------- threads

void Membership::Impl::UdpLoop() {
  std::vector<char> buf(65536);
  while (!Stopping()) {
    if (!WaitReadable(sockets_.udp.Get(), absl::Milliseconds(100))) continue;
    sockaddr_in sa{};
    socklen_t len = sizeof(sa);
    ssize_t n = recvfrom(sockets_.udp.Get(), buf.data(), buf.size(), MSG_DONTWAIT,
                         reinterpret_cast<sockaddr*>(&sa), &len);
    if (n <= 0) continue;
    HandleDatagram(std::string_view(buf.data(), n), Endpoint::FromSockaddr(sa));
  }
}

void Membership::Impl::TcpLoop() {
  while (!Stopping()) {
    if (!WaitReadable(sockets_.tcp.Get(), absl::Milliseconds(100))) continue;
    Fd conn(accept4(sockets_.tcp.Get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.Valid()) continue;
    {
      absl::MutexLock lock(&workers_->mu);
      if (workers_->running >= kMaxConnections) continue;  // closes conn: overloaded
    }
    RunWorker(
        [this, fd = std::make_shared<Fd>(std::move(conn))] { HandleConnection(std::move(*fd)); });
  }
}

void Membership::Impl::ProbeLoop() {
  absl::Duration first;
  {
    absl::MutexLock lock(&mu_);
    first = Jitter(config_.timings.probe_interval);
  }
  if (SleepUnlessStopping(first)) return;
  while (!Stopping()) {
    absl::Time start = absl::Now();
    ProbeOnce();
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      interval = ScaledProbeInterval();
    }
    absl::Duration left = start + interval - absl::Now();
    if (left > absl::ZeroDuration() && SleepUnlessStopping(left)) return;
  }
}

void Membership::Impl::GossipLoop() {
  const Timings& t = config_.timings;
  absl::Duration stagger;
  {
    // Random phases keep nodes' gossip rounds from lining up, which would
    // make every hop wait a full interval.
    absl::MutexLock lock(&mu_);
    stagger = Jitter(t.gossip_interval);
  }
  if (SleepUnlessStopping(stagger)) return;
  do {
    absl::MutexLock lock(&mu_);
    GossipOnce();
    ExpireSuspicions();
    ExpireRelays();
    absl::Time now = absl::Now();
    if (now >= next_push_pull_) {
      // Scale the interval down for big clusters as memberlist does.
      double n = static_cast<double>(nodes_.size());
      double scale = n > 32 ? std::ceil(std::log2(n) - std::log2(32)) + 1 : 1;
      next_push_pull_ = now + t.push_pull_interval * scale;
      auto peers = RandomNodes(1, [](const NodeRecord& r) { return r.state == NodeState::kAlive; });
      if (!peers.empty() && !leaving_) {
        Endpoint to = peers[0]->endpoint;
        RunWorker([this, to] { PushPullWith(to, false).IgnoreError(); });
      }
    }
    if (now >= next_reap_) {
      next_reap_ = now + t.reap_interval;
      Reap();
    }
    if (now >= next_reconnect_) {
      next_reconnect_ = now + t.reconnect_interval;
      ReconnectOnce();
    }
  } while (!SleepUnlessStopping(t.gossip_interval));
}

void Membership::Impl::EventLoop() {
  for (;;) {
    MemberEvent ev;
    {
      absl::MutexLock lock(&events_mu_);
      events_mu_.Await(absl::Condition(
          +[](Impl* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return !self->events_.empty() || self->events_closed_;
          },
          this));
      if (events_.empty()) return;
      ev = std::move(events_.front());
      events_.pop_front();
    }
    if (handler_) handler_(ev);
  }
}

void Membership::Impl::StartJoinLoop() {
  if (config_.start_join_addrs.empty()) return;
  absl::Duration backoff = config_.timings.join_retry_min;
  while (!Stopping()) {
    absl::Status s = Join(config_.start_join_addrs);
    if (s.ok()) return;
    spdlog::warn("discovery: {} could not join {}: {}; retrying in {}", config_.node_name,
                 absl::StrJoin(config_.start_join_addrs, ","), std::string(s.message()),
                 absl::FormatDuration(backoff));
    if (SleepUnlessStopping(backoff)) return;
    backoff = std::min(backoff * 2, config_.timings.join_retry_max);
  }
}

// ---------------------------------------------------------------- UDP path

bool Membership::Impl::DropByFault(const Endpoint& peer) {
  const std::vector<uint16_t>& blocked = config_.faults.blocked_udp_ports;
  if (std::find(blocked.begin(), blocked.end(), peer.port) != blocked.end()) {
    ++stats_.faults_injected;
    return true;
  }
  if (config_.faults.udp_drop_rate <= 0) return false;
  if (std::uniform_real_distribution<double>(0, 1)(fault_rng_) >= config_.faults.udp_drop_rate) {
    return false;
  }
  ++stats_.faults_injected;
  return true;
}

void Membership::Impl::HandleDatagram(std::string_view data, const Endpoint& from) {
  absl::MutexLock lock(&mu_);
  ++stats_.udp_packets_received;
  stats_.udp_bytes_received += data.size();
  if (DropByFault(from)) return;
  Bytes plain;
  if (!keyring_.Empty()) {
    auto decrypted = keyring_.Decrypt(data, "");
    if (!decrypted.ok()) {
      ++stats_.packets_dropped;
      return;
    }
    plain = *std::move(decrypted);
    data = plain;
  }
  UnwrappedPacket packet = UnwrapPacket(data);
  stats_.packets_dropped += packet.errors;
  for (const Bytes& msg : packet.messages) HandleMessage(msg, from);
}

void Membership::Impl::HandleMessage(std::string_view msg, const Endpoint& from) {
  std::string_view body = msg.substr(1);
  switch (static_cast<MsgType>(msg[0])) {
    case MsgType::kPing:
      if (auto m = DecodePing(body); m.ok()) return OnPing(*m, from);
      break;
    case MsgType::kIndirectPing:
      if (auto m = DecodeIndirectPing(body); m.ok()) return OnIndirectPing(*m, from);
      break;
    case MsgType::kAck:
      if (auto m = DecodeAck(body); m.ok()) return OnAck(*m);
      break;
    case MsgType::kNack:
      if (auto m = DecodeNack(body); m.ok()) return OnNack(*m);
      break;
    case MsgType::kSuspect:
      if (auto m = DecodeSuspect(body); m.ok()) return OnSuspect(*m);
      break;
    case MsgType::kAlive:
      if (auto m = DecodeAlive(body); m.ok()) return OnAlive(*m);
      break;
    case MsgType::kDead:
      if (auto m = DecodeDead(body); m.ok()) return OnDead(*m);
      break;
    case MsgType::kUser:
      return OnSerfMessage(body);
    default:
      break;  // unknown or stream-only type
  }
  ++stats_.packets_dropped;
}

void Membership::Impl::SendRaw(const Endpoint& to, std::string_view packet) {
  Bytes sealed;
  if (!keyring_.Empty()) {
    auto blob = keyring_.Encrypt(packet, "");
    if (!blob.ok()) return;
    sealed = *std::move(blob);
    packet = sealed;
  }
  ++stats_.udp_packets_sent;
  stats_.udp_bytes_sent += packet.size();
  if (DropByFault(to)) return;
  sockaddr_in sa = to.ToSockaddr();
  sendto(sockets_.udp.Get(), packet.data(), packet.size(), MSG_DONTWAIT,
         reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
}

void Membership::Impl::SendPacket(const Endpoint& to, Bytes msg, bool piggyback) {
  if (piggyback) {
    size_t overhead = 2 + 2 + msg.size() + (keyring_.Empty() ? 0 : kEncryptOverhead);
    std::vector<Bytes> extra = overhead < kUdpPacketBudget
                                   ? TakeBroadcasts(kUdpPacketBudget - overhead)
                                   : std::vector<Bytes>{};
    if (!extra.empty()) {
      extra.insert(extra.begin(), std::move(msg));
      msg = MakeCompound(extra);
    }
  }
  SendRaw(to, msg);
}

uint64_t Membership::Impl::QueueBroadcast(std::string key, Bytes msg) {
  if (!key.empty()) {  // a newer fact about a node replaces the queued one
    std::erase_if(broadcasts_, [&](const Broadcast& b) { return b.key == key; });
  }
  if (broadcasts_.size() >= kMaxQueuedBroadcasts) {
    // With nobody to gossip to the queue would grow without bound; drop the
    // message that has already been sent the most (oldest on a tie).
    auto most = std::max_element(
        broadcasts_.begin(), broadcasts_.end(),
        [](const Broadcast& a, const Broadcast& b) { return a.transmits < b.transmits; });
    broadcasts_.erase(most);
  }
  uint64_t id = ++next_broadcast_id_;
  broadcasts_.push_back(Broadcast{std::move(key), std::move(msg), 0, id});
  return id;
}

bool Membership::Impl::BroadcastDone(uint64_t id) const {
  return std::none_of(broadcasts_.begin(), broadcasts_.end(),
                      [&](const Broadcast& b) { return b.id == id; });
}

int Membership::Impl::RetransmitLimit() const {
  double n = static_cast<double>(nodes_.size());
  return config_.timings.retransmit_mult * static_cast<int>(std::ceil(std::log10(n + 1)));
}

std::vector<Bytes> Membership::Impl::TakeBroadcasts(size_t budget) {
  std::vector<Bytes> out;
  if (broadcasts_.empty()) return out;
  std::stable_sort(
      broadcasts_.begin(), broadcasts_.end(),
      [](const Broadcast& a, const Broadcast& b) { return a.transmits < b.transmits; });
  int limit = std::max(1, RetransmitLimit());
  for (Broadcast& b : broadcasts_) {
    if (out.size() >= 255) break;
    size_t need = b.msg.size() + 2;  // each compound part costs its length field
    if (need > budget) continue;
    budget -= need;
    out.push_back(b.msg);
    ++b.transmits;
  }
  std::erase_if(broadcasts_, [&](const Broadcast& b) { return b.transmits >= limit; });
  return out;
}

std::vector<Membership::Impl::NodeRecord*> Membership::Impl::RandomNodes(
    size_t k, const std::function<bool(const NodeRecord&)>& ok) {
  std::vector<NodeRecord*> all;
  for (auto& [name, rec] : nodes_) {
    if (name != config_.node_name && rec.in_memberlist && ok(rec)) all.push_back(&rec);
  }
  std::shuffle(all.begin(), all.end(), rng_);
  if (all.size() > k) all.resize(k);
  return all;
}

int Membership::Impl::AliveCount() const {
  int n = 0;
  for (const auto& [name, rec] : nodes_) {
    if (name != config_.node_name && rec.in_memberlist && rec.state == NodeState::kAlive) ++n;
  }
  return n;
}

absl::Duration Membership::Impl::ScaledProbeInterval() const {
  return config_.timings.probe_interval * (awareness_ + 1);
}

void Membership::Impl::GossipOnce() {
  absl::Time now = absl::Now();
  absl::Duration dead_window = config_.timings.gossip_to_the_dead;
  auto targets = RandomNodes(config_.timings.gossip_nodes, [&](const NodeRecord& r) {
    return !IsDown(r.state) || now - r.state_change < dead_window;
  });
  for (NodeRecord* target : targets) {
    bool crc = PMax(target->vsn) >= 5;
    size_t budget =
        kUdpPacketBudget - 2 - (crc ? kCrcOverhead : 0) - (keyring_.Empty() ? 0 : kEncryptOverhead);
    std::vector<Bytes> msgs = TakeBroadcasts(budget);
    if (msgs.empty()) return;
    Bytes packet = msgs.size() == 1 ? std::move(msgs[0]) : MakeCompound(msgs);
    if (crc) packet = WrapCrc(packet);
    SendRaw(target->endpoint, packet);
  }
}

// ---------------------------------------------------------------- SWIM messages

void Membership::Impl::OnPing(const Ping& m, const Endpoint& from) {
  if (!m.node.empty() && m.node != config_.node_name) {
    ++stats_.packets_dropped;  // meant for a node that used to live at our address
    return;
  }
  Endpoint reply = from;
  if (m.source_addr.size() == 4 && m.source_port != 0)
    reply = Endpoint{m.source_addr, m.source_port};
  SendPacket(reply, EncodeAck(Ack{m.seq_no, {}}), true);
}

void Membership::Impl::OnIndirectPing(const IndirectPing& m, const Endpoint& from) {
  if (m.target.size() != 4) {
    ++stats_.packets_dropped;
    return;
  }
  uint32_t seq = NextSeq();
  PendingAck& p = pending_[seq];
  p.relay = true;
  p.requester = from;
  if (m.source_addr.size() == 4 && m.source_port != 0) {
    p.requester = Endpoint{m.source_addr, m.source_port};
  }
  p.requester_seq = m.seq_no;
  p.want_nack = m.nack;
  p.deadline = absl::Now() + config_.timings.probe_timeout;
  Ping ping{seq, m.node, advertise_.ip, advertise_.port, config_.node_name};
  SendPacket(Endpoint{m.target, m.port}, EncodePing(ping), true);
}

void Membership::Impl::OnAck(const Ack& m) {
  auto it = pending_.find(m.seq_no);
  if (it == pending_.end()) return;
  if (it->second.relay) {
    SendPacket(it->second.requester, EncodeAck(Ack{it->second.requester_seq, {}}), true);
    pending_.erase(it);
    return;
  }
  it->second.acked = true;
}

void Membership::Impl::OnNack(const Nack& m) {
  auto it = pending_.find(m.seq_no);
  if (it != pending_.end() && !it->second.relay) ++it->second.nacks;
}

void Membership::Impl::ExpireRelays() {
  absl::Time now = absl::Now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.relay && now >= it->second.deadline) {
      if (it->second.want_nack) {
        SendPacket(it->second.requester, EncodeNack(Nack{it->second.requester_seq}), true);
      }
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

Alive Membership::Impl::AliveOf(const NodeRecord& n) const {
  return Alive{n.incarnation, n.name, n.endpoint.ip, n.endpoint.port, n.meta, n.vsn};
}

void Membership::Impl::BroadcastSelfAlive() {
  const NodeRecord& me = nodes_.at(config_.node_name);
  QueueBroadcast(me.name, EncodeAlive(AliveOf(me)));
}

void Membership::Impl::Refute(uint32_t accused) {
  NodeRecord& me = nodes_.at(config_.node_name);
  me.incarnation = std::max(me.incarnation + 1, accused + 1);
  awareness_ = std::min(awareness_ + 1, config_.timings.awareness_max_multiplier - 1);
  BroadcastSelfAlive();
}

void Membership::Impl::OnAlive(const Alive& m) {
  if (m.vsn.size() >= 3 && (m.vsn[0] == 0 || m.vsn[1] == 0 || m.vsn[0] > m.vsn[1])) return;
  if (m.node.empty() || m.addr.size() != 4) {
    ++stats_.packets_dropped;  // only IPv4 peers are supported
    return;
  }
  Endpoint ep{m.addr, m.port != 0 ? m.port : sockets_.local.port};
  if (m.node == config_.node_name) {
    NodeRecord& me = nodes_.at(m.node);
    bool differs = m.meta != me.meta || m.vsn != me.vsn || !(ep == me.endpoint);
    if (!leaving_ &&
        (m.incarnation > me.incarnation || (m.incarnation == me.incarnation && differs))) {
      Refute(m.incarnation);
    }
    return;
  }
  auto it = nodes_.find(m.node);
  if (it == nodes_.end()) {
    NodeRecord& n = nodes_[m.node];
    n.name = m.node;
    n.endpoint = ep;
    n.meta = m.meta;
    n.vsn = m.vsn;
    n.incarnation = m.incarnation;
    n.state_change = absl::Now();
    QueueBroadcast(m.node, EncodeAlive(m));
    SerfNodeJoined(n);
    return;
  }
  NodeRecord& n = it->second;
  bool gone = !n.in_memberlist;
  if (!(ep == n.endpoint)) {
    if (n.state != NodeState::kLeft && !gone) {
      spdlog::warn("discovery: name conflict for {}: {} vs {}", m.node, n.endpoint.ToString(),
                   ep.ToString());
      return;
    }
  } else if (!gone && m.incarnation <= n.incarnation) {
    return;
  }
  bool was_down = gone || IsDown(n.state);
  bool meta_changed = m.meta != n.meta;
  n.endpoint = ep;
  n.meta = m.meta;
  n.vsn = m.vsn;
  n.incarnation = m.incarnation;
  n.in_memberlist = true;
  n.suspicion.reset();
  if (n.state != NodeState::kAlive) n.state_change = absl::Now();
  n.state = NodeState::kAlive;
  QueueBroadcast(m.node, EncodeAlive(m));
  if (was_down) {
    SerfNodeJoined(n);
  } else if (meta_changed) {
    auto tags = DecodeTags(n.meta);
    if (tags.ok()) n.tags = *std::move(tags);
    Emit(EventType::kUpdate, n);
  }
}

void Membership::Impl::OnSuspect(const Suspect& m) {
  auto it = nodes_.find(m.node);
  if (it == nodes_.end() || !it->second.in_memberlist) return;
  NodeRecord& n = it->second;
  if (m.incarnation < n.incarnation) return;
  if (n.state == NodeState::kSuspect && n.suspicion) {
    if (ConfirmSuspicion(n, m.from)) QueueBroadcast(m.node, EncodeSuspect(m));
    return;
  }
  if (n.state != NodeState::kAlive) return;
  if (m.node == config_.node_name) {
    if (!leaving_) Refute(m.incarnation);
    return;
  }
  n.incarnation = m.incarnation;
  n.state = NodeState::kSuspect;
  n.state_change = absl::Now();
  StartSuspicion(n, m.from);
  QueueBroadcast(m.node, EncodeSuspect(m));
}

void Membership::Impl::OnDead(const Dead& m) {
  auto it = nodes_.find(m.node);
  if (it == nodes_.end() || !it->second.in_memberlist) return;
  NodeRecord& n = it->second;
  if (m.incarnation < n.incarnation || IsDown(n.state)) return;
  if (m.node == config_.node_name) {
    if (!leaving_) Refute(m.incarnation);
    return;
  }
  n.incarnation = m.incarnation;
  n.state = m.from == m.node ? NodeState::kLeft : NodeState::kDead;
  n.state_change = absl::Now();
  n.suspicion.reset();
  QueueBroadcast(m.node, EncodeDead(m));
  SerfNodeLeft(n);
}

void Membership::Impl::StartSuspicion(NodeRecord& n, const std::string& from) {
  const Timings& t = config_.timings;
  double count = static_cast<double>(nodes_.size());
  double scale = std::max(1.0, std::log10(std::max(1.0, count)));
  auto s = std::make_unique<Suspicion>();
  s->start = absl::Now();
  s->min = t.probe_interval * (t.suspicion_mult * scale);
  s->max = s->min * t.suspicion_max_timeout_mult;
  s->k = t.suspicion_mult - 2;
  if (count - 2 < s->k) s->k = 0;
  s->accusers.insert(from);
  s->deadline = s->start + (s->k == 0 ? s->min : s->max);
  n.suspicion = std::move(s);
}

bool Membership::Impl::ConfirmSuspicion(NodeRecord& n, const std::string& from) {
  Suspicion& s = *n.suspicion;
  int confirmations = static_cast<int>(s.accusers.size()) - 1;
  if (confirmations >= s.k || !s.accusers.insert(from).second) return false;
  ++confirmations;
  // Independent confirmations shrink the timeout logarithmically towards min.
  double frac = std::log(confirmations + 1.0) / std::log(s.k + 1.0);
  absl::Duration timeout = std::max(s.min, s.max - (s.max - s.min) * frac);
  s.deadline = s.start + timeout;
  return true;
}

void Membership::Impl::ExpireSuspicions() {
  absl::Time now = absl::Now();
  std::vector<Dead> expired;
  for (auto& [name, n] : nodes_) {
    if (n.state == NodeState::kSuspect && n.suspicion && now >= n.suspicion->deadline) {
      expired.push_back(Dead{n.incarnation, name, config_.node_name});
    }
  }
  for (const Dead& d : expired) {
    spdlog::info("discovery: {} declares {} dead", config_.node_name, d.node);
    OnDead(d);
  }
}

// ---------------------------------------------------------------- probing

Membership::Impl::NodeRecord* Membership::Impl::NextProbeTarget() {
  for (size_t tries = 0; tries <= nodes_.size() + 1; ++tries) {
    if (probe_index_ >= probe_order_.size()) {
      // On each wrap forget nodes dead for longer than GossipToTheDead.
      absl::Time now = absl::Now();
      probe_order_.clear();
      for (auto& [name, n] : nodes_) {
        if (n.in_memberlist && IsDown(n.state) &&
            now - n.state_change > config_.timings.gossip_to_the_dead) {
          n.in_memberlist = false;
        }
        if (name != config_.node_name && n.in_memberlist) probe_order_.push_back(name);
      }
      std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
      probe_index_ = 0;
      if (probe_order_.empty()) return nullptr;
    }
    auto it = nodes_.find(probe_order_[probe_index_++]);
    if (it != nodes_.end() && it->second.in_memberlist && !IsDown(it->second.state)) {
      return &it->second;
    }
  }
  return nullptr;
}

void Membership::Impl::ProbeOnce() {
  absl::MutexLock lock(&mu_);
  if (leaving_) return;
  NodeRecord* target = NextProbeTarget();
  if (target == nullptr) return;
  const std::string name = target->name;
  const Endpoint ep = target->endpoint;
  const uint8_t pmax = PMax(target->vsn);
  absl::Time start = absl::Now();
  absl::Time deadline = start + ScaledProbeInterval();
  uint32_t seq = NextSeq();
  pending_[seq] = PendingAck{};
  Bytes ping = EncodePing(Ping{seq, name, advertise_.ip, advertise_.port, config_.node_name});
  if (target->state == NodeState::kSuspect) {
    // Tell a suspect node directly so it can refute quickly.
    Bytes suspect = EncodeSuspect(Suspect{target->incarnation, name, config_.node_name});
    SendPacket(ep, MakeCompound({ping, suspect}), false);
  } else {
    SendPacket(ep, ping, true);
  }
  auto acked = [this, seq]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = pending_.find(seq);
    return Stopping() || (it != pending_.end() && it->second.acked);
  };
  mu_.AwaitWithDeadline(absl::Condition(&acked),
                        start + config_.timings.probe_timeout * (awareness_ + 1));
  if (!pending_[seq].acked && !Stopping()) {
    int expected_nacks = 0;
    auto peers = RandomNodes(config_.timings.indirect_checks, [&](const NodeRecord& r) {
      return r.state == NodeState::kAlive && r.name != name;
    });
    for (NodeRecord* peer : peers) {
      bool nack = PMax(peer->vsn) >= 4;
      expected_nacks += nack ? 1 : 0;
      IndirectPing ip{seq,  ep.ip,         ep.port,         name,
                      nack, advertise_.ip, advertise_.port, config_.node_name};
      SendPacket(peer->endpoint, EncodeIndirectPing(ip), true);
    }
    if (pmax >= 3 && !config_.timings.disable_tcp_pings) StartTcpPing(ep, name, seq, deadline);
    mu_.AwaitWithDeadline(absl::Condition(&acked), deadline);
    if (!pending_[seq].acked && !Stopping()) {
      ++stats_.probes_failed;
      int missing = expected_nacks > 0 ? expected_nacks - pending_[seq].nacks : 1;
      awareness_ = std::clamp(awareness_ + std::max(0, missing), 0,
                              config_.timings.awareness_max_multiplier - 1);
      pending_.erase(seq);
      auto it = nodes_.find(name);
      if (it != nodes_.end()) OnSuspect(Suspect{it->second.incarnation, name, config_.node_name});
      return;
    }
  }
  awareness_ = std::max(0, awareness_ - 1);
  pending_.erase(seq);
}

void Membership::Impl::StartTcpPing(const Endpoint& to, const std::string& name, uint32_t seq,
                                    absl::Time deadline) {
  Bytes ping = EncodePing(Ping{seq, name, advertise_.ip, advertise_.port, config_.node_name});
  RunWorker([this, to, ping, seq, deadline] {
    auto conn = ConnectTcp(to, deadline);
    if (!conn.ok() || !SendStream(conn->Get(), ping, deadline).ok()) return;
    auto reply = ReadStreamMessage(conn->Get(), keyring_, deadline);
    absl::MutexLock lock(&mu_);
    if (!reply.ok() || reply->type != MsgType::kAck || reply->ack.seq_no != seq) return;
    auto it = pending_.find(seq);
    if (it != pending_.end()) it->second.acked = true;
  });
}

// ---------------------------------------------------------------- TCP

absl::Status Membership::Impl::SendStream(int fd, std::string_view msg, absl::Time deadline) {
  auto wire = EncodeStreamMessage(msg, keyring_, /*compress=*/true);
  if (!wire.ok()) return wire.status();
  {
    absl::MutexLock lock(&mu_);
    stats_.tcp_bytes_sent += wire->size();
  }
  return WriteAll(fd, *wire, deadline);
}

void Membership::Impl::HandleConnection(Fd fd) {
  absl::Time deadline = absl::Now() + config_.timings.tcp_timeout;
  auto msg = ReadStreamMessage(fd.Get(), keyring_, deadline);
  if (!msg.ok()) {
    absl::MutexLock lock(&mu_);
    ++stats_.packets_dropped;
    spdlog::debug("discovery: dropped stream from a peer: {}", std::string(msg.status().message()));
    return;
  }
  switch (msg->type) {
    case MsgType::kPushPull: {
      Bytes reply;
      {
        absl::MutexLock lock(&mu_);
        reply = EncodePushPull(LocalState(msg->push_pull.join));
      }
      if (!SendStream(fd.Get(), reply, deadline).ok()) return;
      absl::MutexLock lock(&mu_);
      absl::Status merged = MergeRemoteState(msg->push_pull);
      if (!merged.ok())
        spdlog::warn("discovery: refused remote state: {}", std::string(merged.message()));
      return;
    }
    case MsgType::kPing: {
      if (!msg->ping.node.empty() && msg->ping.node != config_.node_name) return;
      SendStream(fd.Get(), EncodeAck(Ack{msg->ping.seq_no, {}}), deadline).IgnoreError();
      return;
    }
    case MsgType::kUser: {
      absl::MutexLock lock(&mu_);
      OnSerfMessage(msg->user);
      return;
    }
    default: {
      absl::MutexLock lock(&mu_);
      ++stats_.packets_dropped;
    }
  }
}

PushPull Membership::Impl::LocalState(bool join) {
  PushPull pp;
  pp.join = join;
  for (const auto& [name, n] : nodes_) {
    if (!n.in_memberlist) continue;
    pp.nodes.push_back(
        PushNodeState{name, n.endpoint.ip, n.endpoint.port, n.meta, n.incarnation, n.state, n.vsn});
  }
  pp.user_state = LocalSerfState();
  return pp;
}

absl::Status Membership::Impl::PushPullWith(const Endpoint& to, bool join) {
  absl::Time deadline = absl::Now() + config_.timings.tcp_timeout;
  auto conn = ConnectTcp(to, deadline);
  if (!conn.ok()) return conn.status();
  Bytes request;
  {
    absl::MutexLock lock(&mu_);
    request = EncodePushPull(LocalState(join));
  }
  if (auto s = SendStream(conn->Get(), request, deadline); !s.ok()) return s;
  auto reply = ReadStreamMessage(conn->Get(), keyring_, deadline);
  if (!reply.ok()) {
    return absl::Status(reply.status().code(), absl::StrCat("push/pull with ", to.ToString(), ": ",
                                                            reply.status().message()));
  }
  if (reply->type == MsgType::kErr) {
    return absl::UnavailableError(
        absl::StrCat("remote error from ", to.ToString(), ": ", reply->error));
  }
  if (reply->type != MsgType::kPushPull) {
    return absl::InvalidArgumentError("unexpected reply to push/pull");
  }
  absl::MutexLock lock(&mu_);
  return MergeRemoteState(reply->push_pull);
}

absl::Status Membership::Impl::MergeRemoteState(const PushPull& remote) {
  // Every alive node's current versions must fit every other's range.
  std::vector<const Bytes*> vsns;
  for (const auto& [name, n] : nodes_) {
    if (n.in_memberlist && n.state == NodeState::kAlive && n.vsn.size() >= 6)
      vsns.push_back(&n.vsn);
  }
  for (const PushNodeState& n : remote.nodes) {
    if (n.state == NodeState::kAlive && n.vsn.size() >= 6) vsns.push_back(&n.vsn);
  }
  uint8_t lo_p = 0, hi_p = 255, lo_d = 0, hi_d = 255;
  for (const Bytes* v : vsns) {
    lo_p = std::max<uint8_t>(lo_p, (*v)[0]), hi_p = std::min<uint8_t>(hi_p, (*v)[1]);
    lo_d = std::max<uint8_t>(lo_d, (*v)[3]), hi_d = std::min<uint8_t>(hi_d, (*v)[4]);
  }
  for (const Bytes* v : vsns) {
    uint8_t p = (*v)[2], d = (*v)[5];
    if (p < lo_p || p > hi_p || d < lo_d || d > hi_d) {
      return absl::FailedPreconditionError("incompatible protocol versions in remote state");
    }
  }
  for (const PushNodeState& n : remote.nodes) {
    switch (n.state) {
      case NodeState::kAlive:
        OnAlive(Alive{n.incarnation, n.name, n.addr, n.port, n.meta, n.vsn});
        break;
      case NodeState::kLeft:
        OnDead(Dead{n.incarnation, n.name, n.name});
        break;
      default:  // a remote "dead" only makes us suspect
        OnSuspect(Suspect{n.incarnation, n.name, config_.node_name});
    }
  }
  if (!remote.user_state.empty() &&
      static_cast<SerfType>(remote.user_state[0]) == SerfType::kPushPull) {
    auto serf = DecodeSerfPushPull(std::string_view(remote.user_state).substr(1));
    if (!serf.ok()) return serf.status();
    MergeSerfState(*serf);
  }
  return absl::OkStatus();
}

}  // namespace proglog::discovery
