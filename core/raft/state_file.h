// core/raft/state_file.h: the small files beside the Raft log, each holding one
// value that is replaced as a whole: the hard state with the membership, and
// the snapshot metadata. A write goes to `<name>.tmp`, is fsynced, renamed over
// `<name>` and the directory fsynced, so a crash leaves either the old or the
// new contents, never a mix. Every file carries a magic, a version and a
// CRC32C, so a damaged one is reported as DataLoss rather than read as garbage.
//
// File layout, integers little-endian:
//   u32 magic | u32 version (1) | u32 payload_length | payload | u32 crc32c
// where the CRC covers every byte before it.
//
// Thread-safety: the functions are thread-safe; two writers of one file are not
// (REQUIRES: external synchronization per file).
#ifndef PROGLOG_CORE_RAFT_STATE_FILE_H_
#define PROGLOG_CORE_RAFT_STATE_FILE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/raft/types.h"

namespace proglog::raft {

// One checksummed file, replaced atomically.
class StateFile {
 public:
  // `magic` tells the kinds of file apart, so one cannot be read as another.
  StateFile(std::filesystem::path path, uint32_t magic) : path_(std::move(path)), magic_(magic) {}

  // Replaces the contents with `payload` (temp file, fsync, rename, fsync of
  // the directory); durable when it returns OK.
  absl::Status Write(std::string_view payload) const;
  // The payload; std::nullopt if the file does not exist. DataLoss, naming the
  // file, if it is torn, has the wrong magic or version, or fails its checksum.
  absl::StatusOr<std::optional<std::string>> Read() const;
  // Removes a temp file left by a write that crashed before its rename.
  void RemoveLeftovers() const;

  const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
  uint32_t magic_;
};

// What the hard-state file holds. `snapshot_index` is the snapshot this state
// was written after: a file older than the snapshot file (a crash between the
// two writes) may hold a membership the snapshot supersedes.
struct PersistentState {
  HardState hard_state;
  ConfState conf_state;
  uint64_t snapshot_index = 0;

  bool operator==(const PersistentState&) const = default;
};

std::string EncodePersistentState(const PersistentState& state);
// DataLoss on malformed bytes.
absl::StatusOr<PersistentState> DecodePersistentState(std::string_view data);

// The snapshot file holds the metadata and the (small) state machine data.
std::string EncodeSnapshot(const Snapshot& snapshot);
// DataLoss on malformed bytes.
absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view data);

namespace internal {
// fsync(2) of a directory, so that a rename or a new file in it is durable.
absl::Status SyncDirectory(const std::filesystem::path& dir);
// CRC32C (Castagnoli) of `data`, extending `crc` (0 for none).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);
}  // namespace internal

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_STATE_FILE_H_
