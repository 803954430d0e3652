#include "core/node/identity.h"

#include <random>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "core/log/record_format.h"
#include "core/node/peer_directory.h"

namespace proglog::node::internal {
namespace {

constexpr uint32_t kIdentityMagic = 0x44495250;  // "PRID" little-endian
constexpr size_t kPayloadBytes = 16;

std::string Encode(const Identity& identity) {
  std::string payload(kPayloadBytes, '\0');
  log::internal::PutFixed64(payload.data(), identity.raft_id);
  log::internal::PutFixed64(payload.data() + 8, identity.cluster_id);
  return payload;
}

// True when the Raft storage in `dir` holds anything (a node that ran before).
bool HasRaftFiles(const std::filesystem::path& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().filename() != "identity.tmp") return true;
  }
  return false;
}

}  // namespace

uint64_t RandomNonZeroId() {
  std::random_device device;
  for (;;) {
    const uint64_t id = (static_cast<uint64_t>(device()) << 32) | device();
    if (id != 0) return id;
  }
}

IdentityFile::IdentityFile(const std::filesystem::path& raft_dir)
    : raft_dir_(raft_dir), file_(raft_dir / "identity", kIdentityMagic) {}

absl::StatusOr<Identity> IdentityFile::LoadOrCreate(std::string_view node_name, bool bootstrap) {
  file_.RemoveLeftovers();
  absl::StatusOr<std::optional<std::string>> payload = file_.Read();
  if (!payload.ok()) return payload.status();
  if (payload->has_value()) {
    const std::string& bytes = **payload;
    if (bytes.size() != kPayloadBytes) {
      return absl::DataLossError(
          absl::StrCat(file_.Path().string(), ": identity of ", bytes.size(), " bytes, not 16"));
    }
    return Identity{log::internal::GetFixed64(bytes.data()),
                    log::internal::GetFixed64(bytes.data() + 8)};
  }
  if (HasRaftFiles(raft_dir_)) return Identity{RaftIdOf(node_name), 0};
  std::error_code error;
  std::filesystem::create_directories(raft_dir_, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", raft_dir_.string(), ": ", error.message()));
  }
  const Identity identity{RandomNonZeroId(), bootstrap ? RandomNonZeroId() : 0};
  if (absl::Status s = Save(identity); !s.ok()) return s;
  return identity;
}

absl::Status IdentityFile::Save(const Identity& identity) { return file_.Write(Encode(identity)); }

}  // namespace proglog::node::internal
