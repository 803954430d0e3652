// core/node/peer_directory: what this node knows of the other members from
// gossip: each member's Raft id (its `raft_id` tag), RPC address and
// gossip status. The Raft transport resolves ids to addresses with it, the
// membership reconciler reads who is alive or has left, and GetServers names
// the members. Fed by discovery's member events.
//
// Thread-safety: every method is thread-safe and never blocks on I/O.
#ifndef PROGLOG_CORE_NODE_PEER_DIRECTORY_H_
#define PROGLOG_CORE_NODE_PEER_DIRECTORY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/discovery/membership.h"

namespace proglog::node::internal {

// The Raft id of the node called `name` when its storage predates identity
// files (core/node/identity.h) and its gossip tags carry no `raft_id`: a
// 64-bit FNV-1a hash, never 0 (Raft's "no node").
uint64_t RaftIdOf(std::string_view name);

// Gossip tag keys a cluster node advertises.
inline constexpr char kRpcAddrTag[] = "rpc_addr";
inline constexpr char kRaftIdTag[] = "raft_id";

struct Peer {
  uint64_t id = 0;
  std::string name;
  std::string rpc_addr;  // from the member's `rpc_addr` tag; empty if it has none
  discovery::MemberStatus status = discovery::MemberStatus::kAlive;
};

class PeerDirectory {
 public:
  // Records a member as gossip reports it (join, update, leave, failure).
  void Update(const discovery::Member& member);
  // Forgets a member (gossip reaped it).
  void Remove(const std::string& name);

  std::optional<Peer> Find(uint64_t id) const;
  std::string RpcAddressOf(uint64_t id) const;
  std::vector<Peer> All() const;
  // Raft ids of members whose name came back with another id (the node lost
  // its data dir): the old incarnation is gone for good. Name by id.
  std::map<uint64_t, std::string> Replaced() const;

 private:
  mutable absl::Mutex mu_;
  std::map<uint64_t, Peer> peers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> id_by_name_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> replaced_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_PEER_DIRECTORY_H_
