#include "core/raft/types.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

bool ConfState::IsVoter(uint64_t id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool ConfState::IsLearner(uint64_t id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

// Layout: one type byte, then the node id as 8 little-endian bytes.
std::string ConfChange::Encode() const {
  std::string out(9, '\0');
  out[0] = static_cast<char>(type);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((node >> (8 * i)) & 0xff);
  return out;
}

absl::StatusOr<ConfChange> ConfChange::Decode(std::string_view data) {
  if (data.size() != 9) {
    return absl::InvalidArgumentError(absl::StrCat("conf change is 9 bytes, got ", data.size()));
  }
  const auto type = static_cast<uint8_t>(data[0]);
  if (type < 1 || type > 3) {
    return absl::InvalidArgumentError(absl::StrCat("unknown conf change type ", type));
  }
  ConfChange cc;
  cc.type = static_cast<Type>(type);
  for (int i = 0; i < 8; ++i) {
    cc.node |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i])) << (8 * i);
  }
  if (cc.node == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  return cc;
}

namespace {

void PutIds(std::string& out, const std::vector<uint64_t>& ids) {
  const uint32_t n = ids.size();
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  for (uint64_t id : ids) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  }
}

bool GetIds(std::string_view& in, std::vector<uint64_t>& ids) {
  if (in.size() < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  in.remove_prefix(4);
  if (in.size() / 8 < n) return false;
  for (uint32_t k = 0; k < n; ++k) {
    uint64_t id = 0;
    for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
    in.remove_prefix(8);
    ids.push_back(id);
  }
  return true;
}

}  // namespace

// Layout: the 9-byte ConfChange, then voters and learners, each as a 4-byte
// little-endian count followed by 8-byte little-endian ids.
std::string EncodeConfEntry(const ConfChange& change, const ConfState& result) {
  std::string out = change.Encode();
  PutIds(out, result.voters);
  PutIds(out, result.learners);
  return out;
}

absl::StatusOr<std::pair<ConfChange, ConfState>> DecodeConfEntry(std::string_view data) {
  if (data.size() < 9) return absl::InvalidArgumentError("conf entry shorter than 9 bytes");
  auto cc = ConfChange::Decode(data.substr(0, 9));
  if (!cc.ok()) return cc.status();
  data.remove_prefix(9);
  ConfState cs;
  if (!GetIds(data, cs.voters) || !GetIds(data, cs.learners) || !data.empty()) {
    return absl::InvalidArgumentError("malformed membership in conf entry");
  }
  return std::make_pair(*cc, std::move(cs));
}

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResponse:
      return "AppendResponse";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageType::kSnapshotChunk:
      return "SnapshotChunk";
    case MessageType::kSnapshotResponse:
      return "SnapshotResponse";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResponse:
      return "ReadIndexResponse";
  }
  return "Unknown";
}

std::pair<EntryType, std::string> EncodeUserRecord(UserRecord record) {
  if (record.type == 0) return {EntryType::kNormal, std::move(record.value)};
  std::string data;
  data.reserve(kUserTypeBytes + record.value.size());
  for (size_t i = 0; i < kUserTypeBytes; ++i) {
    data.push_back(static_cast<char>((record.type >> (8 * i)) & 0xff));
  }
  data.append(record.value);
  return {EntryType::kTypedRecord, std::move(data)};
}

absl::StatusOr<UserRecord> DecodeUserRecord(EntryType type, std::string data) {
  if (type == EntryType::kNormal) return UserRecord{std::move(data), 0};
  if (type != EntryType::kTypedRecord) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry type ", static_cast<uint32_t>(type), " holds no user record"));
  }
  if (data.size() < kUserTypeBytes) {
    return absl::DataLossError(
        absl::StrCat("typed record entry of ", data.size(), " bytes is shorter than its type"));
  }
  UserRecord record;
  for (size_t i = 0; i < kUserTypeBytes; ++i) {
    record.type |= static_cast<uint32_t>(static_cast<uint8_t>(data[i])) << (8 * i);
  }
  data.erase(0, kUserTypeBytes);
  record.value = std::move(data);
  return record;
}

}  // namespace proglog::raft
