#include "core/raft/types.h"

#include <algorithm>

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
  }
  return "Unknown";
}

}  // namespace proglog::raft
