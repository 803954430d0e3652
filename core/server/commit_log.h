// core/server/commit_log: the seam between the gRPC service and whatever keeps
// the records. The service appends, reads and tails a CommitLog; it does not know
// whether that is one local log (LocalCommitLog, local_commit_log.h) or a log
// replicated by Raft. The node picks the implementation and owns it.
//
// Offsets are dense user offsets. A record is readable only once it is durable
// (local) or committed (replicated): reads never return anything else.
//
// A node that cannot take writes refuses them with UNAVAILABLE. When it knows who
// can (a follower), the status names the leader's RPC address (NotLeaderError);
// the service forwards that address to the client in the trailing metadata key
// kLeaderMetadataKey. During an election the refusal names nobody.
//
// Thread-safety: every method of a CommitLog is thread-safe. The service calls
// AppendBatch/Append, WaitForOffset, CancelWait, LowestOffset, NextOffset and
// Servers on gRPC callback threads, so those must not block (no disk I/O, no
// waiting for peers); it calls Read and ReadRange only on its own read threads,
// where disk I/O is fine (but not waiting for replication), and ConfirmEnd
// there too, which must not block either (it answers through a callback).
#ifndef PROGLOG_CORE_SERVER_COMMIT_LOG_H_
#define PROGLOG_CORE_SERVER_COMMIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace proglog::server {

// One record to append: the value and the type its producer gave it (log.v1
// Record.type, 0 when none). The commit log keeps the type with the value and
// reads it back unchanged.
struct NewRecord {
  std::string value;
  uint32_t type = 0;
};

// One committed record as the service returns it. `type` is the producer's
// (NewRecord::type). `term` is the Raft term of the leader that appended the
// record to the replicated log (0 for a local log): records from one term
// were appended by one leader, and a later record never has a lower term.
struct Record {
  std::string value;
  uint64_t offset = 0;
  uint64_t term = 0;
  uint32_t type = 0;
};

// One member of the cluster, as GetServers reports it.
struct ServerInfo {
  std::string id;
  std::string rpc_addr;
  bool is_leader = false;
};

class CommitLog {
 public:
  // Receives the offset of the first record of an append (record i got first + i),
  // or why the append failed.
  using AppendDone = absl::AnyInvocable<void(absl::StatusOr<uint64_t> first_offset)>;

  virtual ~CommitLog() = default;

  // Appends `records` (at least one; a value may be empty) in order at consecutive offsets.
  //
  // Returns OK when the append is accepted: `done` is then called exactly once,
  // later, never from within this call, on any thread (the implementation's writer
  // or Raft driver thread): with the first offset once every value is durable
  // (local) or committed (replicated), or with an error. `done` must not block; it
  // may call AppendBatch again. Every accepted append completes, also when the
  // commit log stops (then with UNAVAILABLE).
  //
  // Returns an error when refused at once (not the leader, no leader, stopped):
  // `done` is dropped uncalled, so callers may hold locks their `done` takes.
  //
  // Order: appends accepted by calls that happen one after the other get increasing
  // offsets (a stream's requests keep their order). A batch is never interleaved
  // with other appends.
  //
  // Errors, given by the return value or to `done`: NotLeaderError (UNAVAILABLE,
  // with or without the leader's address); INVALID_ARGUMENT for an
  // oversized value (nothing appended); RESOURCE_EXHAUSTED when the disk is full;
  // UNAVAILABLE or FAILED_PRECONDITION when stopped or closed. An error passed to
  // `done` by a replicated log other than INVALID_ARGUMENT may leave the outcome
  // unknown (a new leader may still commit the values), as in any consensus system.
  virtual absl::Status AppendBatch(std::vector<NewRecord> records, AppendDone done) = 0;
  // One record; the same contract. Override when a single record is cheaper than
  // a batch of one (the service produces one record per request).
  virtual absl::Status Append(NewRecord record, AppendDone done);

  // Reads the committed record at `offset`: OUT_OF_RANGE below LowestOffset() or
  // at/after NextOffset(). May do disk I/O.
  virtual absl::StatusOr<Record> Read(uint64_t offset) = 0;
  // Reads consecutive committed records from `offset`: at least one (or the error
  // Read would give), then more while fewer than `max_records` and their values
  // total at most `max_bytes`. May do disk I/O.
  virtual absl::StatusOr<std::vector<Record>> ReadRange(uint64_t offset, size_t max_records,
                                                        size_t max_bytes) = 0;

  // Confirms where the log ends, for a read that found nothing at or after
  // NextOffset(): calls `done` once, with OK when every record committed
  // anywhere before this call is readable here (a Read then answering
  // OUT_OF_RANGE is linearizable: no acknowledged record was missed), or with
  // UNAVAILABLE when that cannot be confirmed now (no leader known, leadership
  // lost, no answer in time, stopped). `done` may run inline or on the thread
  // that applies committed entries; it must not block. Never blocks itself.
  // The default answers OK inline: a log that is its own authority, as a
  // single local log is.
  virtual void ConfirmEnd(absl::AnyInvocable<void(absl::Status)> done);

  // The first offset still kept and the offset the next committed record will
  // get; [LowestOffset(), NextOffset()) is readable. Cheap; never blocks.
  virtual uint64_t LowestOffset() = 0;
  virtual uint64_t NextOffset() = 0;

  // Calls `ready` once when `offset` becomes readable: inline, on the caller's
  // thread, if it already is; otherwise on the thread that makes it readable (the
  // writer, or the thread applying committed entries). `ready` must not block.
  // A stopped commit log may drop pending waits without calling them. Returns an
  // id for CancelWait. A notification, never a poll.
  virtual uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) = 0;
  // Drops a pending wait; false if it already fired (or is firing) or never existed.
  virtual bool CancelWait(uint64_t id) = 0;

  // The cluster for GetServers, leader marked. Empty means "this node alone,
  // as leader": the service then reports its own id and address. Must not block.
  virtual std::vector<ServerInfo> Servers() = 0;
};

// The refusal of a node that is not the leader: UNAVAILABLE, carrying
// `leader_rpc_address` as a status payload under kLeaderPayloadTypeUrl. An
// empty address (no leader known, an election is running) carries no payload.
absl::Status NotLeaderError(std::string_view leader_rpc_address);
// Unavailable for a write this node accepted as leader and then lost its
// leadership before the write committed: it may still commit under the new
// leader, so its outcome is unknown (clients must not treat it as a refusal).
// Names the new leader like NotLeaderError when one is known.
absl::Status LeadershipLostError(std::string_view leader_rpc_address);
// The leader's address a status carries, if it is a NotLeaderError that names one.
std::optional<std::string> LeaderAddressOf(const absl::Status& status);

// Payload type URL of the leader's address in a NotLeaderError. In-process only:
// on the wire the address travels in trailing metadata (kLeaderMetadataKey).
inline constexpr char kLeaderPayloadTypeUrl[] = "type.proglog.dev/proglog.NotLeader";

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_COMMIT_LOG_H_
