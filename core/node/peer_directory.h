// core/node/peer_directory: what this node knows of the other members from
// gossip: each member's Raft id (derived from its node name), RPC address and
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

// The Raft id of the node called `name`: a 64-bit FNV-1a hash, never 0 (Raft's
// "no node"). A name that comes back keeps its id, so a restarted node is the
// same member.
uint64_t RaftIdOf(std::string_view name);

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

 private:
  mutable absl::Mutex mu_;
  std::map<uint64_t, Peer> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_PEER_DIRECTORY_H_
