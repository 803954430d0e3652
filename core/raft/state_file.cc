#include "core/raft/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace proglog::raft {
namespace {

constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 12;  // magic + version + payload length
constexpr size_t kTrailerBytes = 4;  // crc32c

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

absl::Status ErrnoError(int err, const char* what, const std::filesystem::path& path) {
  std::string message = absl::StrCat(what, " ", path.string(), ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// Owns a file descriptor for the length of one operation.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int Get() const { return fd_; }
  // Closes now, so a failing close(2) (a lost write-back) is reported.
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads little-endian integers from a byte string; once a read runs past the
// end, every later read fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return ok_ = false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return ok_;
  }
  bool U64(uint64_t& v) {
    if (in_.size() < 8) return ok_ = false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return ok_;
  }
  bool Ids(std::vector<uint64_t>& ids) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() / 8 < n) return ok_ = false;
    ids.resize(n);
    for (uint64_t& id : ids) U64(id);
    return ok_;
  }
  bool Bytes(std::string& out) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return ok_ = false;
    out.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return ok_;
  }
  bool Done() const { return ok_ && in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

void PutIds(std::string& out, const std::vector<uint64_t>& ids) {
  PutU32(out, static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) PutU64(out, id);
}

void PutConf(std::string& out, const ConfState& conf) {
  PutIds(out, conf.voters);
  PutIds(out, conf.learners);
  PutU64(out, conf.index);
}

bool GetConf(Reader& in, ConfState& conf) {
  return in.Ids(conf.voters) && in.Ids(conf.learners) && in.U64(conf.index);
}

}  // namespace

namespace internal {

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (char ch : data) crc = kCrcTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

absl::Status SyncDirectory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.Get() < 0) return ErrnoError(errno, "open directory", dir);
  if (::fsync(fd.Get()) != 0) return ErrnoError(errno, "fsync directory", dir);
  return absl::OkStatus();
}

}  // namespace internal

absl::Status StateFile::Write(std::string_view payload) const {
  std::string bytes;
  bytes.reserve(kHeaderBytes + payload.size() + kTrailerBytes);
  PutU32(bytes, magic_);
  PutU32(bytes, kVersion);
  PutU32(bytes, static_cast<uint32_t>(payload.size()));
  bytes.append(payload);
  PutU32(bytes, internal::Crc32c(bytes));

  std::filesystem::path tmp = path_;
  tmp += ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.Get() < 0) return ErrnoError(errno, "open", tmp);
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd.Get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", tmp);
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fdatasync(fd.Get()) != 0) return ErrnoError(errno, "fsync", tmp);
  if (fd.Close() != 0) return ErrnoError(errno, "close", tmp);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return ErrnoError(errno, "rename", tmp);
  return internal::SyncDirectory(path_.parent_path());
}

absl::StatusOr<std::optional<std::string>> StateFile::Read() const {
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.Get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoError(errno, "open", path_);
  }
  std::string bytes;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", path_);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  auto damaged = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("damaged state file ", path_.string(), ": ", why));
  };
  if (bytes.size() < kHeaderBytes + kTrailerBytes) {
    return damaged(absl::StrCat("only ", bytes.size(), " bytes"));
  }
  Reader header(std::string_view(bytes).substr(0, kHeaderBytes));
  uint32_t magic = 0;
  uint32_t version = 0;
  uint32_t length = 0;
  header.U32(magic);
  header.U32(version);
  header.U32(length);
  if (magic != magic_) return damaged(absl::StrCat("bad magic ", magic));
  if (bytes.size() != kHeaderBytes + uint64_t{length} + kTrailerBytes) {
    return damaged(absl::StrCat("holds ", bytes.size(), " bytes, its header says ",
                                kHeaderBytes + uint64_t{length} + kTrailerBytes));
  }
  Reader trailer(std::string_view(bytes).substr(bytes.size() - kTrailerBytes));
  uint32_t crc = 0;
  trailer.U32(crc);
  if (crc != internal::Crc32c(std::string_view(bytes).substr(0, bytes.size() - kTrailerBytes))) {
    return damaged("checksum mismatch");
  }
  // Checked after the CRC: a garbled version field is damage, a good one we do
  // not know is a file from a newer release.
  if (version != kVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("state file ", path_.string(), " has unsupported version ", version));
  }
  return std::optional<std::string>(bytes.substr(kHeaderBytes, length));
}

void StateFile::RemoveLeftovers() const {
  std::filesystem::path tmp = path_;
  tmp += ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
}

// Layout: term, vote, commit, snapshot_index as u64; then the ConfState as
// voters and learners (u32 count, u64 ids) and its u64 index.
std::string EncodePersistentState(const PersistentState& state) {
  std::string out;
  PutU64(out, state.hard_state.term);
  PutU64(out, state.hard_state.vote);
  PutU64(out, state.hard_state.commit);
  PutU64(out, state.snapshot_index);
  PutConf(out, state.conf_state);
  return out;
}

absl::StatusOr<PersistentState> DecodePersistentState(std::string_view data) {
  PersistentState state;
  Reader in(data);
  if (!in.U64(state.hard_state.term) || !in.U64(state.hard_state.vote) ||
      !in.U64(state.hard_state.commit) || !in.U64(state.snapshot_index) ||
      !GetConf(in, state.conf_state) || !in.Done()) {
    return absl::DataLossError("malformed hard state");
  }
  return state;
}

// Layout: index and term as u64, the ConfState as above, then the data (u32
// length and bytes).
std::string EncodeSnapshot(const Snapshot& snapshot) {
  std::string out;
  PutU64(out, snapshot.meta.index);
  PutU64(out, snapshot.meta.term);
  PutConf(out, snapshot.meta.conf);
  PutU32(out, static_cast<uint32_t>(snapshot.data.size()));
  out.append(snapshot.data);
  return out;
}

absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view data) {
  Snapshot snapshot;
  Reader in(data);
  if (!in.U64(snapshot.meta.index) || !in.U64(snapshot.meta.term) ||
      !GetConf(in, snapshot.meta.conf) || !in.Bytes(snapshot.data) || !in.Done()) {
    return absl::DataLossError("malformed snapshot metadata");
  }
  return snapshot;
}

}  // namespace proglog::raft
