// core/discovery: gossip membership that speaks HashiCorp Serf's wire protocol
// (memberlist SWIM + the Serf layer), so a proglog node can join a cluster of
// serf agents, be listed by `serf members`, and learn every member's tags
// (our nodes publish `rpc_addr`). Failure detection is SWIM with Lifeguard-style
// suspicion; state is spread by piggybacked gossip and periodic TCP push/pull.
// With a gossip key every packet is AES-GCM encrypted exactly as Serf's keyring
// does, and peers without the key are not admitted.
//
// Thread-safety: every public method of Membership is thread-safe. Member
// events are delivered in order on one dedicated thread, so a slow handler
// delays only later events, never gossip; the handler must not call Shutdown().
// ListMembers() is a free function and may be called from any thread.
#ifndef PROGLOG_CORE_DISCOVERY_MEMBERSHIP_H_
#define PROGLOG_CORE_DISCOVERY_MEMBERSHIP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace proglog::discovery {

// Protocol timings; the defaults are memberlist's and Serf's LAN profile.
struct Timings {
  absl::Duration probe_interval = absl::Seconds(1);
  absl::Duration probe_timeout = absl::Milliseconds(500);
  int indirect_checks = 3;
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;
  int retransmit_mult = 4;
  absl::Duration gossip_interval = absl::Milliseconds(200);
  int gossip_nodes = 3;
  absl::Duration gossip_to_the_dead = absl::Seconds(30);
  absl::Duration push_pull_interval = absl::Seconds(30);
  absl::Duration tcp_timeout = absl::Seconds(10);
  bool disable_tcp_pings = false;  // memberlist's DisableTcpPings
  int awareness_max_multiplier = 8;
  // Serf: failed members are reaped after reconnect_timeout, left members
  // after tombstone_timeout, checked every reap_interval; every
  // reconnect_interval one failed member is re-joined if it answers.
  absl::Duration reconnect_timeout = absl::Hours(24);
  absl::Duration tombstone_timeout = absl::Hours(24);
  absl::Duration reap_interval = absl::Seconds(15);
  absl::Duration reconnect_interval = absl::Seconds(30);
  // Leave(): longest wait for each broadcast to go out, then the pause that
  // lets it spread while we still answer probes.
  absl::Duration broadcast_timeout = absl::Seconds(5);
  absl::Duration leave_propagate_delay = absl::Seconds(1);
  // Start-join retries: exponential backoff between these bounds, forever.
  absl::Duration join_retry_min = absl::Milliseconds(500);
  absl::Duration join_retry_max = absl::Seconds(30);
};

// Fault injection for tests: drop this fraction of UDP datagrams in each
// direction, from a seeded generator.
struct Faults {
  double udp_drop_rate = 0;
  uint64_t seed = 1;
  // Every UDP datagram to or from these gossip ports is dropped (a one-link
  // partition that leaves TCP alone).
  std::vector<uint16_t> blocked_udp_ports;
};

struct Config {
  std::string node_name;                      // cluster-unique; required
  std::string bind_addr = "127.0.0.1:7946";   // IPv4 "ip:port"; port 0 picks a free one
  std::string advertise_addr;                 // default: the bound address
  std::map<std::string, std::string> tags;    // e.g. {"rpc_addr": "127.0.0.1:8400"}
  std::vector<std::string> start_join_addrs;  // joined in the background, retried
  std::string encrypt_key;                    // raw 16/24/32-byte key; empty = no encryption
  Timings timings;
  Faults faults;
};

// Parses a base64 gossip key as `serf keygen` prints it into raw key bytes.
absl::StatusOr<std::string> ParseGossipKey(const std::string& base64);

enum class MemberStatus { kAlive, kLeaving, kLeft, kFailed };
const char* MemberStatusName(MemberStatus s);  // "alive", "leaving", "left", "failed"

struct Member {
  std::string name;
  std::string address;  // gossip address "ip:port"
  std::map<std::string, std::string> tags;
  MemberStatus status = MemberStatus::kAlive;
};

enum class EventType { kJoin, kLeave, kFailed, kUpdate, kReap };
const char* EventTypeName(EventType t);  // "member-join", "member-leave", ...

struct MemberEvent {
  EventType type;
  Member member;
};
using EventHandler = std::function<void(const MemberEvent&)>;

// Counters since Start (all directions on this node).
struct GossipStats {
  uint64_t udp_packets_sent = 0;
  uint64_t udp_bytes_sent = 0;
  uint64_t udp_packets_received = 0;
  uint64_t udp_bytes_received = 0;
  uint64_t tcp_bytes_sent = 0;
  uint64_t tcp_bytes_received = 0;
  uint64_t packets_dropped = 0;   // malformed, oversized, undecryptable, unknown type
  uint64_t faults_injected = 0;   // dropped by Faults
  uint64_t probes_failed = 0;     // probes that got no ack, direct or indirect
  uint64_t user_events_seen = 0;  // distinct Serf user events (duplicates not counted)
  uint64_t queries_seen = 0;      // distinct Serf queries
};

class Membership {
 public:
  // Binds the gossip sockets, starts the protocol threads and, in the
  // background, joins config.start_join_addrs (retried with backoff until one
  // answers). Errors: InvalidArgument for a bad config, Unavailable if the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Membership>> Start(Config config, EventHandler handler);
  ~Membership();  // Shutdown() without a graceful leave

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Joins through the given addresses now; OK if at least one push/pull
  // succeeded, else the last error.
  absl::Status Join(const std::vector<std::string>& addrs);
  // Graceful leave: tells the cluster (members see us as `left`), waits for
  // the broadcasts to spread, then stops probing others. Call before Shutdown.
  absl::Status Leave();
  // Stops all threads and closes the sockets; idempotent. Pending events are
  // delivered before it returns.
  void Shutdown();

  // Every member known, this node included, with its Serf status.
  std::vector<Member> Members() const;
  Member Self() const;
  // The advertised gossip address ("ip:port"), useful when port 0 was bound.
  std::string Address() const;
  // Replaces this node's tags and gossips them (others see an update event).
  absl::Status SetTags(std::map<std::string, std::string> tags);
  GossipStats Stats() const;

  class Impl;

 private:
  explicit Membership(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Asks the node at `address` (ours or a serf agent) for its member list with a
// read-only TCP push/pull that carries no local state, so the remote does not
// add us. `key` is the raw gossip key, empty if the cluster is unencrypted.
absl::StatusOr<std::vector<Member>> ListMembers(const std::string& address, const std::string& key,
                                                absl::Duration timeout = absl::Seconds(5));

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_MEMBERSHIP_H_
