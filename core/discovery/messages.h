// Internal: the memberlist and Serf messages as C++ structs, with encoders that
// produce Serf's exact byte layout and decoders that accept what Serf accepts
// (see /work/shared/specs/serf-wire-protocol.md, sections 3 and 6).
#ifndef PROGLOG_CORE_DISCOVERY_MESSAGES_H_
#define PROGLOG_CORE_DISCOVERY_MESSAGES_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/discovery/msgpack_io.h"

namespace proglog::discovery {

// memberlist message type bytes.
enum class MsgType : uint8_t {
  kPing = 0,
  kIndirectPing = 1,
  kAck = 2,
  kSuspect = 3,
  kAlive = 4,
  kDead = 5,
  kPushPull = 6,
  kCompound = 7,
  kUser = 8,
  kCompress = 9,
  kEncrypt = 10,
  kNack = 11,
  kHasCrc = 12,
  kErr = 13,
};

// Serf message type bytes (inside memberlist user messages).
enum class SerfType : uint8_t {
  kLeave = 0,
  kJoin = 1,
  kPushPull = 2,
  kUserEvent = 3,
  kQuery = 4,
  kQueryResponse = 5,
  kRelay = 9,
};

// Our protocol versions: memberlist 1..5 speaking 2, serf 2..5 speaking 5.
inline constexpr char kVsn[6] = {1, 5, 2, 2, 5, 5};
inline std::string OurVsn() { return std::string(kVsn, 6); }

struct Ping {
  uint32_t seq_no = 0;
  std::string node;
  Bytes source_addr;
  uint16_t source_port = 0;
  std::string source_node;
};

struct IndirectPing {
  uint32_t seq_no = 0;
  Bytes target;
  uint16_t port = 0;
  std::string node;
  bool nack = false;
  Bytes source_addr;
  uint16_t source_port = 0;
  std::string source_node;
};

struct Ack {
  uint32_t seq_no = 0;
  Bytes payload;
};

struct Nack {
  uint32_t seq_no = 0;
};

struct Suspect {
  uint32_t incarnation = 0;
  std::string node;
  std::string from;
};

struct Alive {
  uint32_t incarnation = 0;
  std::string node;
  Bytes addr;
  uint16_t port = 0;
  Bytes meta;
  Bytes vsn;
};

struct Dead {
  uint32_t incarnation = 0;
  std::string node;
  std::string from;
};

// memberlist node states as carried in push/pull.
enum class NodeState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

struct PushNodeState {
  std::string name;
  Bytes addr;
  uint16_t port = 0;
  Bytes meta;
  uint32_t incarnation = 0;
  NodeState state = NodeState::kAlive;
  Bytes vsn;
};

struct PushPull {
  bool join = false;
  std::vector<PushNodeState> nodes;
  Bytes user_state;  // serf state (02 | map) or empty
};

// Serf layer.
struct JoinIntent {
  uint64_t ltime = 0;
  std::string node;
};

struct LeaveIntent {
  uint64_t ltime = 0;
  std::string node;
  bool prune = false;
};

struct SerfPushPull {
  uint64_t ltime = 0;
  std::map<std::string, uint64_t> status_ltimes;
  std::vector<std::string> left_members;
  uint64_t event_ltime = 0;
  uint64_t query_ltime = 0;
};

struct UserEvent {
  uint64_t ltime = 0;
  std::string name;
  Bytes payload;
  bool cc = false;
};

struct Query {
  uint64_t ltime = 0;
  uint32_t id = 0;
  Bytes addr;
  uint16_t port = 0;
  std::string source_node;
  uint32_t flags = 0;
  std::string name;
  Bytes payload;
  size_t filters = 0;  // how many node/tag filters the query carries
};

struct QueryResponse {
  uint64_t ltime = 0;
  uint32_t id = 0;
  std::string from;
  uint32_t flags = 0;
  Bytes payload;
};

struct Relay {
  Bytes dest_ip;
  uint16_t dest_port = 0;
  std::string dest_name;
  Bytes inner;  // serf type byte + body, forwarded as a user message
};

// Encoders return the complete message including its type byte(s).
Bytes EncodePing(const Ping& m);
Bytes EncodeIndirectPing(const IndirectPing& m);
Bytes EncodeAck(const Ack& m);
Bytes EncodeNack(const Nack& m);
Bytes EncodeSuspect(const Suspect& m);
Bytes EncodeAlive(const Alive& m);
Bytes EncodeDead(const Dead& m);
Bytes EncodeErr(std::string_view error);
// Stream form: header, node states, then the user state bytes.
Bytes EncodePushPull(const PushPull& m);
Bytes EncodeJoinIntent(const JoinIntent& m);    // 08 01 ...
Bytes EncodeLeaveIntent(const LeaveIntent& m);  // 08 00 ...
Bytes EncodeQueryResponse(const QueryResponse& m);
Bytes EncodeSerfPushPull(const SerfPushPull& m);  // 02 | map (no 08 prefix)

// Decoders take the body after the type byte(s). Errors: InvalidArgument.
absl::StatusOr<Ping> DecodePing(std::string_view body);
absl::StatusOr<IndirectPing> DecodeIndirectPing(std::string_view body);
absl::StatusOr<Ack> DecodeAck(std::string_view body);
absl::StatusOr<Nack> DecodeNack(std::string_view body);
absl::StatusOr<Suspect> DecodeSuspect(std::string_view body);
absl::StatusOr<Alive> DecodeAlive(std::string_view body);
absl::StatusOr<Dead> DecodeDead(std::string_view body);
absl::StatusOr<JoinIntent> DecodeJoinIntent(std::string_view body);
absl::StatusOr<LeaveIntent> DecodeLeaveIntent(std::string_view body);
absl::StatusOr<SerfPushPull> DecodeSerfPushPull(std::string_view body);
absl::StatusOr<UserEvent> DecodeUserEvent(std::string_view body);
absl::StatusOr<Query> DecodeQuery(std::string_view body);
absl::StatusOr<QueryResponse> DecodeQueryResponse(std::string_view body);
absl::StatusOr<Relay> DecodeRelay(std::string_view body);

// Tags <-> memberlist Meta (ff | map[string]string; legacy form = role).
Bytes EncodeTags(const std::map<std::string, std::string>& tags);
absl::StatusOr<std::map<std::string, std::string>> DecodeTags(std::string_view meta);

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_MESSAGES_H_
