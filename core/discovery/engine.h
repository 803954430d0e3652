// Internal: the state and threads behind Membership. One mutex guards the
// member table, the broadcast queue, probe bookkeeping and the Serf clocks;
// every handler runs briefly under it and never blocks on the network (UDP
// sends are non-blocking; TCP exchanges run on worker threads without it).
#ifndef PROGLOG_CORE_DISCOVERY_ENGINE_H_
#define PROGLOG_CORE_DISCOVERY_ENGINE_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/discovery/membership.h"
#include "core/discovery/messages.h"
#include "core/discovery/packet.h"
#include "core/discovery/transport.h"

namespace proglog::discovery {

// A Lamport clock as Serf keeps three of them.
class LamportClock {
 public:
  uint64_t Time() const { return t_; }
  uint64_t Increment() { return ++t_; }
  void Witness(uint64_t t) {
    if (t >= t_) t_ = t + 1;
  }

 private:
  uint64_t t_ = 1;
};

class Membership::Impl {
 public:
  Impl(Config config, EventHandler handler, Keyring keyring, BoundSockets sockets,
       Endpoint advertise);
  ~Impl();
  void StartThreads();
  absl::Status Join(const std::vector<std::string>& addrs);
  absl::Status Leave();
  void Shutdown();
  std::vector<Member> Members() const;
  Member Self() const;
  std::string Address() const { return advertise_.ToString(); }
  absl::Status SetTags(std::map<std::string, std::string> tags);
  GossipStats Stats() const;

 private:
  struct Suspicion {
    absl::Time start;
    absl::Duration min;
    absl::Duration max;
    int k = 0;
    std::set<std::string> accusers;
    absl::Time deadline;
  };

  struct NodeRecord {
    std::string name;
    Endpoint endpoint;
    Bytes meta;
    Bytes vsn;
    uint32_t incarnation = 0;
    NodeState state = NodeState::kAlive;
    absl::Time state_change;
    bool in_memberlist = true;  // false once the gossip layer reaped it
    std::unique_ptr<Suspicion> suspicion;
    // Serf layer
    MemberStatus status = MemberStatus::kAlive;
    uint64_t status_ltime = 0;
    std::map<std::string, std::string> tags;
    absl::Time status_change;
  };

  struct Broadcast {
    std::string key;  // node name for memberlist messages, empty for Serf's
    Bytes msg;
    int transmits = 0;
    uint64_t id = 0;
  };

  struct PendingAck {
    bool acked = false;
    int nacks = 0;
    // Set when this ping was sent on behalf of another node's indirect ping.
    bool relay = false;
    Endpoint requester;
    uint32_t requester_seq = 0;
    bool want_nack = false;
    absl::Time deadline;
  };

  struct Intent {
    uint64_t ltime = 0;
    bool leave = false;
    absl::Time seen;
  };

  // Threads.
  void UdpLoop();
  void TcpLoop();
  void ProbeLoop();
  void GossipLoop();
  void EventLoop();
  void StartJoinLoop();
  void RunWorker(std::function<void()> fn);
  bool Stopping() const { return stopping_.load(); }
  bool SleepUnlessStopping(absl::Duration d);
  absl::Duration Jitter(absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // in [0, d)

  // UDP path.
  void HandleDatagram(std::string_view data, const Endpoint& from);
  void HandleMessage(std::string_view msg, const Endpoint& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendPacket(const Endpoint& to, Bytes msg, bool piggyback) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendRaw(const Endpoint& to, std::string_view packet) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<Bytes> TakeBroadcasts(size_t budget) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t QueueBroadcast(std::string key, Bytes msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BroadcastDone(uint64_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int RetransmitLimit() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DropByFault(const Endpoint& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // SWIM.
  void OnPing(const Ping& m, const Endpoint& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnIndirectPing(const IndirectPing& m, const Endpoint& from)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAck(const Ack& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNack(const Nack& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAlive(const Alive& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnSuspect(const Suspect& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDead(const Dead& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Refute(uint32_t accused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BroadcastSelfAlive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Alive AliveOf(const NodeRecord& n) const;
  void StartSuspicion(NodeRecord& n, const std::string& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ConfirmSuspicion(NodeRecord& n, const std::string& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireSuspicions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireRelays() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeOnce();
  NodeRecord* NextProbeTarget() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartTcpPing(const Endpoint& to, const std::string& name, uint32_t seq, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GossipOnce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<NodeRecord*> RandomNodes(size_t k, const std::function<bool(const NodeRecord&)>& ok)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int AliveCount() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t NextSeq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ++seq_no_; }
  absl::Duration ScaledProbeInterval() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // TCP: push/pull and stream pings.
  void HandleConnection(Fd fd);
  absl::Status PushPullWith(const Endpoint& to, bool join);
  PushPull LocalState(bool join) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MergeRemoteState(const PushPull& remote) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SendStream(int fd, std::string_view msg, absl::Time deadline);

  // Serf layer.
  void OnSerfMessage(std::string_view msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OnJoinIntent(const JoinIntent& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OnLeaveIntent(const LeaveIntent& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OnUserEvent(const UserEvent& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OnQuery(const Query& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnRelay(const Relay& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SerfNodeJoined(NodeRecord& n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SerfNodeLeft(NodeRecord& n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MergeSerfState(const SerfPushPull& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Bytes LocalSerfState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BroadcastJoinIntent() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReconnectOnce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(EventType type, const NodeRecord& n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Member ToMember(const NodeRecord& n) const;
  absl::Status WaitBroadcast(uint64_t id, absl::Duration timeout);

  const Config config_;
  const EventHandler handler_;
  const Keyring keyring_;
  BoundSockets sockets_;
  const Endpoint advertise_;

  mutable absl::Mutex mu_;
  std::map<std::string, NodeRecord> nodes_ ABSL_GUARDED_BY(mu_);
  std::vector<Broadcast> broadcasts_ ABSL_GUARDED_BY(mu_);
  uint64_t next_broadcast_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint32_t, PendingAck> pending_ ABSL_GUARDED_BY(mu_);
  uint32_t seq_no_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> probe_order_ ABSL_GUARDED_BY(mu_);
  size_t probe_index_ ABSL_GUARDED_BY(mu_) = 0;
  int awareness_ ABSL_GUARDED_BY(mu_) = 0;
  bool leaving_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 fault_rng_ ABSL_GUARDED_BY(mu_);
  LamportClock member_clock_ ABSL_GUARDED_BY(mu_);
  LamportClock event_clock_ ABSL_GUARDED_BY(mu_);
  LamportClock query_clock_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Intent> intents_ ABSL_GUARDED_BY(mu_);
  // Recent user events (name + payload) and query ids by Lamport time, so a
  // message is re-gossiped only the first time it arrives.
  std::map<uint64_t, std::set<std::string>> seen_events_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::set<uint32_t>> seen_queries_ ABSL_GUARDED_BY(mu_);
  absl::Time next_push_pull_ ABSL_GUARDED_BY(mu_);
  absl::Time next_reap_ ABSL_GUARDED_BY(mu_);
  absl::Time next_reconnect_ ABSL_GUARDED_BY(mu_);
  GossipStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex events_mu_;
  std::deque<MemberEvent> events_ ABSL_GUARDED_BY(events_mu_);
  bool events_closed_ ABSL_GUARDED_BY(events_mu_) = false;

  // Shared with worker threads so the last one can finish its bookkeeping
  // even while Shutdown() is already returning.
  struct WorkerCount {
    absl::Mutex mu;
    int running ABSL_GUARDED_BY(mu) = 0;
  };
  std::shared_ptr<WorkerCount> workers_ = std::make_shared<WorkerCount>();

  std::atomic<bool> stopping_{false};
  std::atomic<bool> shut_down_{false};
  absl::Mutex stop_mu_;  // lets loops sleep until shutdown
  bool stop_signal_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::vector<std::thread> threads_;
  std::thread event_thread_;
};

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_ENGINE_H_
