#include "core/node/peer_directory.h"

namespace proglog::node::internal {

uint64_t RaftIdOf(std::string_view name) {
  uint64_t hash = 14695981039346656037ull;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash == 0 ? 1 : hash;
}

void PeerDirectory::Update(const discovery::Member& member) {
  Peer peer;
  peer.id = RaftIdOf(member.name);
  peer.name = member.name;
  if (auto it = member.tags.find("rpc_addr"); it != member.tags.end()) peer.rpc_addr = it->second;
  peer.status = member.status;
  absl::MutexLock lock(&mu_);
  peers_[peer.id] = std::move(peer);
}

void PeerDirectory::Remove(const std::string& name) {
  absl::MutexLock lock(&mu_);
  peers_.erase(RaftIdOf(name));
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
