#include "core/node/peer_directory.h"

#include "absl/strings/numbers.h"

namespace proglog::node::internal {

uint64_t RaftIdOf(std::string_view name) {
  uint64_t hash = 14695981039346656037ull;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash == 0 ? 1 : hash;
}

namespace {

// The member's `raft_id` tag, or the id its name hashes to when it has none
// (or one that does not parse).
uint64_t RaftIdOfMember(const discovery::Member& member) {
  uint64_t id = 0;
  auto it = member.tags.find(kRaftIdTag);
  if (it != member.tags.end() && absl::SimpleAtoi(it->second, &id) && id != 0) return id;
  return RaftIdOf(member.name);
}

}  // namespace

void PeerDirectory::Update(const discovery::Member& member) {
  Peer peer;
  peer.id = RaftIdOfMember(member);
  peer.name = member.name;
  if (auto it = member.tags.find(kRpcAddrTag); it != member.tags.end()) peer.rpc_addr = it->second;
  peer.status = member.status;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = id_by_name_.try_emplace(peer.name, peer.id);
  if (!inserted && it->second != peer.id) {
    replaced_[it->second] = peer.name;
    peers_.erase(it->second);
    it->second = peer.id;
  }
  replaced_.erase(peer.id);
  peers_[peer.id] = std::move(peer);
}

void PeerDirectory::Remove(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = id_by_name_.find(name);
  if (it == id_by_name_.end()) return;
  peers_.erase(it->second);
  id_by_name_.erase(it);
}

std::map<uint64_t, std::string> PeerDirectory::Replaced() const {
  absl::MutexLock lock(&mu_);
  return replaced_;
}

std::optional<Peer> PeerDirectory::Find(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::string PeerDirectory::RpcAddressOf(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(id);
  return it == peers_.end() ? std::string() : it->second.rpc_addr;
}

std::vector<Peer> PeerDirectory::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<Peer> out;
  out.reserve(peers_.size());
  for (const auto& [id, peer] : peers_) out.push_back(peer);
  return out;
}

}  // namespace proglog::node::internal
