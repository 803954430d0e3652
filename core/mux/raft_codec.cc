#include "core/mux/raft_codec.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::mux {
namespace {

// Body layout (all integers unsigned LEB128 varints unless noted):
//   version (1 byte, kBodyVersion), type (1 byte), flags (1 byte: reject, force, last_chunk),
//   from, to, term, log_term, index, commit, reject_hint, hint_term, context,
//   entries: count, then per entry index, term, type, data (length + bytes),
//   snapshot: index, term, voters (count + ids), learners (count + ids), conf index,
//   chunk_offset, chunk (length + bytes).
constexpr uint8_t kBodyVersion = 1;
constexpr uint8_t kFlagReject = 1;
constexpr uint8_t kFlagForce = 2;
constexpr uint8_t kFlagLastChunk = 4;
constexpr uint8_t kKnownFlags = kFlagReject | kFlagForce | kFlagLastChunk;

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutBytes(std::string_view bytes, std::string* out) {
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

void PutIds(const std::vector<uint64_t>& ids, std::string* out) {
  PutVarint(ids.size(), out);
  for (uint64_t id : ids) PutVarint(id, out);
}

void PutFixed(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetFixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// Reads from a body; the first failure sticks and every later read returns zeros.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  size_t Remaining() const { return in_.size(); }

  uint8_t Byte() {
    if (!ok_ || in_.empty()) return Fail();
    uint8_t b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!ok_ || in_.empty()) return Fail();
      uint8_t b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      // The tenth byte may only hold the top bit of a 64-bit value.
      if (shift == 63 && b > 1) return Fail();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Fail();
  }

  std::string Bytes() {
    uint64_t n = Varint();
    if (!ok_ || n > in_.size()) {
      Fail();
      return {};
    }
    std::string out(in_.substr(0, n));
    in_.remove_prefix(n);
    return out;
  }

  // A count of items each at least `min_item_bytes` long: never more than what fits.
  uint64_t Count(size_t min_item_bytes) {
    uint64_t n = Varint();
    if (!ok_ || n > in_.size() / min_item_bytes) return Fail();
    return n;
  }

  std::vector<uint64_t> Ids() {
    uint64_t n = Count(1);
    std::vector<uint64_t> ids;
    ids.reserve(n);
    for (uint64_t i = 0; i < n && ok_; ++i) ids.push_back(Varint());
    return ids;
  }

 private:
  uint8_t Fail() {
    ok_ = false;
    return 0;
  }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::string EncodeMessage(const raft::Message& m) {
  std::string out;
  out.reserve(64 + m.chunk.size() + m.entries.size() * 16);
  out.push_back(static_cast<char>(kBodyVersion));
  out.push_back(static_cast<char>(m.type));
  uint8_t flags = (m.reject ? kFlagReject : 0) | (m.force ? kFlagForce : 0) |
                  (m.last_chunk ? kFlagLastChunk : 0);
  out.push_back(static_cast<char>(flags));
  for (uint64_t v : {m.from, m.to, m.term, m.log_term, m.index, m.commit, m.reject_hint,
                     m.hint_term, m.context}) {
    PutVarint(v, &out);
  }
  PutVarint(m.entries.size(), &out);
  for (const raft::Entry& e : m.entries) {
    PutVarint(e.index, &out);
    PutVarint(e.term, &out);
    PutVarint(static_cast<uint32_t>(e.type), &out);
    PutBytes(e.data, &out);
  }
  PutVarint(m.snapshot.index, &out);
  PutVarint(m.snapshot.term, &out);
  PutIds(m.snapshot.conf.voters, &out);
  PutIds(m.snapshot.conf.learners, &out);
  PutVarint(m.snapshot.conf.index, &out);
  PutVarint(m.chunk_offset, &out);
  PutBytes(m.chunk, &out);
  return out;
}

absl::StatusOr<raft::Message> DecodeMessage(std::string_view body) {
  Reader r(body);
  raft::Message m;
  uint8_t version = r.Byte();
  if (r.ok() && version != kBodyVersion) {
    return absl::InvalidArgumentError(absl::StrCat("raft message version ", version));
  }
  uint8_t type = r.Byte();
  if (r.ok() && type > static_cast<uint8_t>(raft::kLastMessageType)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown raft message type ", type));
  }
  m.type = static_cast<raft::MessageType>(type);
  uint8_t flags = r.Byte();
  if (r.ok() && (flags & ~kKnownFlags) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown raft message flags ", flags));
  }
  m.reject = (flags & kFlagReject) != 0;
  m.force = (flags & kFlagForce) != 0;
  m.last_chunk = (flags & kFlagLastChunk) != 0;
  for (uint64_t* v : {&m.from, &m.to, &m.term, &m.log_term, &m.index, &m.commit, &m.reject_hint,
                      &m.hint_term, &m.context}) {
    *v = r.Varint();
  }
  // An entry takes at least four bytes: index, term, type and data length.
  uint64_t entries = r.Count(4);
  m.entries.reserve(entries);
  for (uint64_t i = 0; i < entries && r.ok(); ++i) {
    raft::Entry e;
    e.index = r.Varint();
    e.term = r.Varint();
    uint64_t entry_type = r.Varint();
    if (r.ok() && !raft::IsEntryType(entry_type)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown raft entry type ", entry_type));
    }
    e.type = static_cast<raft::EntryType>(entry_type);
    e.data = r.Bytes();
    m.entries.push_back(std::move(e));
  }
  m.snapshot.index = r.Varint();
  m.snapshot.term = r.Varint();
  m.snapshot.conf.voters = r.Ids();
  m.snapshot.conf.learners = r.Ids();
  m.snapshot.conf.index = r.Varint();
  m.chunk_offset = r.Varint();
  m.chunk = r.Bytes();
  if (!r.ok()) return absl::InvalidArgumentError("truncated or malformed raft message");
  if (r.Remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.Remaining(), " trailing bytes after a raft message"));
  }
  return m;
}

void AppendFrame(uint64_t cluster_id, const raft::Message& message, std::string* out) {
  std::string body = EncodeMessage(message);
  out->append(kRaftFrameMagic, sizeof(kRaftFrameMagic));
  PutFixed(cluster_id, 8, out);
  PutFixed(body.size(), 4, out);
  out->append(body);
}

absl::StatusOr<std::optional<raft::Message>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  if (Buffered() < kRaftFrameHeaderBytes) return std::nullopt;
  const char* header = buffer_.data() + consumed_;
  if (std::memcmp(header, kRaftFrameMagic, sizeof(kRaftFrameMagic)) != 0) {
    error_ = absl::InvalidArgumentError("not a proglog raft frame (bad magic)");
    return error_;
  }
  uint64_t cluster = GetFixed(header + 4, 8);
  uint64_t length = GetFixed(header + 12, 4);
  if (length > max_body_bytes_) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("raft frame of ", length, " bytes exceeds the limit of ", max_body_bytes_));
    return error_;
  }
  if (cluster_id_ != kAnyCluster && cluster != cluster_id_) {
    error_ = absl::FailedPreconditionError(
        absl::StrCat("raft frame for cluster ", cluster, ", this is cluster ", cluster_id_));
    return error_;
  }
  if (Buffered() < kRaftFrameHeaderBytes + length) return std::nullopt;
  absl::StatusOr<raft::Message> message =
      DecodeMessage(std::string_view(buffer_).substr(consumed_ + kRaftFrameHeaderBytes, length));
  if (!message.ok()) {
    error_ = message.status();
    return error_;
  }
  consumed_ += kRaftFrameHeaderBytes + length;
  frame_cluster_id_ = cluster;
  // Compact once the consumed prefix dominates, so the buffer does not grow forever.
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return std::optional<raft::Message>(*std::move(message));
}

}  // namespace proglog::mux
