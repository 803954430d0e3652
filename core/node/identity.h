// core/node/identity: who this node is in Raft, kept in `<data dir>/raft/identity`.
//
//   raft_id     this node's Raft id, drawn at random when its Raft storage is
//               created. A node restarting with its data dir keeps it; the
//               same name coming back with an empty data dir gets a new one,
//               so the cluster sees a new member (which replaces the old) and
//               no vote the old one cast is forgotten under the same id.
//   cluster_id  drawn at random by the node that bootstraps the cluster; a
//               joining node adopts it from the first Raft frame it is sent
//               and keeps it. Raft frames for another cluster are refused.
//
// Storage written before this file existed has none: such a node keeps the id
// its name hashes to and cluster id 0 ("not checked"), so it rejoins as before.
//
// Thread-safety: IdentityFile is not thread-safe; the node writes it from one
// thread at a time (at open, then once when it adopts a cluster id).
#ifndef PROGLOG_CORE_NODE_IDENTITY_H_
#define PROGLOG_CORE_NODE_IDENTITY_H_

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/raft/state_file.h"

namespace proglog::node::internal {

struct Identity {
  uint64_t raft_id = 0;
  uint64_t cluster_id = 0;  // 0: not known yet (or storage from before identities)
};

class IdentityFile {
 public:
  explicit IdentityFile(const std::filesystem::path& raft_dir);

  // The identity in `raft_dir`, creating it when the storage is new (no Raft
  // files yet): a random Raft id, and a random cluster id if `bootstrap`.
  // Storage without the file keeps RaftIdOf(node_name) and cluster id 0.
  // DataLoss if the file is damaged.
  absl::StatusOr<Identity> LoadOrCreate(std::string_view node_name, bool bootstrap);
  // Records the cluster id this node adopted; durable when it returns OK.
  absl::Status Save(const Identity& identity);

 private:
  std::filesystem::path raft_dir_;
  raft::StateFile file_;
};

// A random 64-bit value that is never 0 (Raft's "no node", "no cluster").
uint64_t RandomNonZeroId();

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_IDENTITY_H_
