// core/raft/types.h: the values the Raft core exchanges with its caller: log
// entries, the hard state and membership that must survive a crash, snapshot
// metadata, and the messages nodes send each other. Plain data, no behaviour;
// safe to copy between threads like any value type.
#ifndef PROGLOG_CORE_RAFT_TYPES_H_
#define PROGLOG_CORE_RAFT_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace proglog::raft {

// 0 is never a node id: it means "nobody" in `vote` and `leader`.
inline constexpr uint64_t kNoNode = 0;

// What an entry holds. kNormal and kTypedRecord entries carry a user record
// (HoldsUserRecord); the other kinds are skipped by the OffsetTranslator so user
// offsets stay dense. The values match core/log's Record::type so the segmented
// log can store them as is; they are also the Raft wire codec's entry types.
enum class EntryType : uint32_t {
  kNormal = 0,       // a user record of type 0: data is its value, verbatim
  kNoop = 1,         // appended by every new leader to commit its term
  kConfChange = 2,   // data is an encoded ConfChange
  kTypedRecord = 3,  // a user record of another type: see EncodeUserRecord
};
inline constexpr EntryType kLastEntryType = EntryType::kTypedRecord;

// False for a number that is no EntryType (a damaged or foreign entry).
constexpr bool IsEntryType(uint64_t value) {
  return value <= static_cast<uint32_t>(kLastEntryType);
}
// True for the kinds that carry a user record, i.e. take a user offset.
constexpr bool HoldsUserRecord(EntryType type) {
  return type == EntryType::kNormal || type == EntryType::kTypedRecord;
}

struct Entry {
  uint64_t index = 0;
  uint64_t term = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// What a node must have on stable storage before it answers anyone.
struct HardState {
  uint64_t term = 0;
  uint64_t vote = kNoNode;
  uint64_t commit = 0;

  bool operator==(const HardState&) const = default;
};

// The membership in force as of the configuration entry at `index` (0 for the
// bootstrap configuration). Voters elect and commit; learners only receive the log.
struct ConfState {
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  uint64_t index = 0;

  bool operator==(const ConfState&) const = default;
  bool IsVoter(uint64_t id) const;
  bool IsLearner(uint64_t id) const;
};

// One membership change; configurations change one server at a time. A voter
// can only be added as a learner first and promoted once it has caught up.
struct ConfChange {
  enum class Type : uint8_t { kAddLearner = 1, kPromoteLearner = 2, kRemoveNode = 3 };
  Type type = Type::kAddLearner;
  uint64_t node = kNoNode;

  bool operator==(const ConfChange&) const = default;
  std::string Encode() const;
  // InvalidArgument on bytes that are not an encoded ConfChange.
  static absl::StatusOr<ConfChange> Decode(std::string_view data);
};

// A configuration entry's data: the change, plus the membership that results
// from it, so a node that joins later (and never saw the bootstrap
// membership) learns the whole configuration from the log.
std::string EncodeConfEntry(const ConfChange& change, const ConfState& result);
// InvalidArgument on malformed bytes; `result.index` is left 0.
absl::StatusOr<std::pair<ConfChange, ConfState>> DecodeConfEntry(std::string_view data);

// A user record: the value and the type its producer gave it (log.v1
// Record.type; 0 when none), as the replicated log stores them in an entry.
struct UserRecord {
  std::string value;
  uint32_t type = 0;

  bool operator==(const UserRecord&) const = default;
};

// Bytes a kTypedRecord entry adds in front of the value.
inline constexpr size_t kUserTypeBytes = 4;

// The entry kind and data that store `record`. Type 0 (the common case) is a
// kNormal entry whose data is the value alone, so it costs nothing and logs
// written before typed records existed read unchanged. Any other type is a
// kTypedRecord entry: the type as 4 bytes little-endian, then the value.
std::pair<EntryType, std::string> EncodeUserRecord(UserRecord record);
// The record an entry of kind `type` holds. InvalidArgument for a kind that
// holds no user record; DataLoss for kTypedRecord data shorter than the type.
absl::StatusOr<UserRecord> DecodeUserRecord(EntryType type, std::string data);

// A snapshot means "the state machine as of `index`". For proglog the log is the
// state machine, so `data` is small (e.g. the user offset that follows `index`):
// a snapshot never copies records a follower could get by replication.
struct SnapshotMeta {
  uint64_t index = 0;
  uint64_t term = 0;
  ConfState conf;

  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;

  bool operator==(const Snapshot&) const = default;
};

enum class MessageType : uint8_t {
  kPreVote,
  kPreVoteResponse,
  kVote,
  kVoteResponse,
  kAppend,
  kAppendResponse,
  kHeartbeat,
  kHeartbeatResponse,
  kSnapshotChunk,
  kSnapshotResponse,
  kTimeoutNow,
  // A follower asks the leader for a read point on behalf of its own reader:
  // `context` is the follower's ReadIndex context, echoed in the response.
  kReadIndex,
  // The leader's answer: `index` is its commit index confirmed by a quorum
  // after the request arrived (see Raft::ReadIndex).
  kReadIndexResponse,
};
inline constexpr MessageType kLastMessageType = MessageType::kReadIndexResponse;

std::string_view MessageTypeName(MessageType type);

// One message between nodes. Fields not listed for a type are zero.
struct Message {
  MessageType type = MessageType::kHeartbeat;
  uint64_t from = kNoNode;
  uint64_t to = kNoNode;
  uint64_t term = 0;
  // kAppend: term of the entry at `index`. (Pre)Vote: term of the candidate's last entry.
  uint64_t log_term = 0;
  // kAppend: index just before `entries`. (Pre)Vote: the candidate's last index.
  // kAppendResponse: last index now matching the leader (accept) or the
  // rejected kAppend's `index` (reject). kSnapshotResponse: snapshot index.
  uint64_t index = 0;
  std::vector<Entry> entries;
  uint64_t commit = 0;
  bool reject = false;
  // kAppendResponse reject: the follower's guess of where the logs may agree
  // (an index and its term), so the leader skips a whole term per round trip.
  uint64_t reject_hint = 0;
  uint64_t hint_term = 0;
  // kHeartbeat(Response): the ReadIndex round this heartbeat confirms (0 = none).
  // kReadIndex(Response): the asking follower's ReadIndex context.
  // kReadIndexResponse: `index` is the confirmed read point.
  uint64_t context = 0;
  // kVote: sent because of a leadership transfer, so it overrides the leader lease.
  bool force = false;
  // kSnapshotChunk: a piece of snapshot `snapshot` starting at `chunk_offset`.
  // kSnapshotResponse: `chunk_offset` is the next byte the follower expects.
  SnapshotMeta snapshot;
  uint64_t chunk_offset = 0;
  std::string chunk;
  bool last_chunk = false;
};

// Answer to a ReadIndex request: once the local state machine has applied
// `index`, a read that started before the request was made is linearizable.
struct ReadState {
  uint64_t context = 0;
  uint64_t index = 0;
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_TYPES_H_
