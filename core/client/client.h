// core/client: the C++ client of a proglog cluster (the log.v1.Log gRPC API).
//
// From one or more bootstrap addresses the client learns the cluster with
// GetServers and keeps that view fresh: every `refresh_interval`, and at once
// when a server is unreachable, a follower names another leader, or no leader
// is known. Produce and ProduceBatch go to the leader; Consume, ConsumeToEnd
// and Subscribe go round-robin over the followers (the leader when there are
// none), or to the leader with BalancePolicy::kLeader.
//
// A call that meets an unreachable server or a leader change is retried with
// exponential backoff and jitter until it succeeds, fails for another reason,
// uses up Options::retry.max_attempts, or reaches its deadline
// (Options::call_timeout, or CallOptions::timeout for one call). A retried
// produce whose earlier attempt may have reached the leader (the connection
// broke after the request left) can append the record twice; when such a call
// fails in the end, IsOutcomeUnknown(status) is true: the record may or may not
// be in the log. A subscription whose server goes away resumes on another
// server from the next offset: no gap and no duplicate.
//
// Thread-safety: every method of Client is thread-safe, including Close().
// Subscription::Next must not be called from two threads at once; Cancel() may
// be called from any thread at any time (it wakes a blocked Next).
//
// Record sizes: the client learns the server's maximum record size from the
// initial metadata of any call (wire::kMaxRecordBytesMetadataKey), or takes
// Options::max_record_bytes, and checks values against it before sending them.
// Its receive limit is that maximum plus room for the envelope (unlimited while
// only the server knows the maximum), so a record the server accepted can
// always be read back.
//
// Errors (absl::Status codes): OutOfRange (offset past the end), Unavailable
// (no server answered; NotLeaderAddress() tells whether the last answer was a
// redirect), InvalidArgument (bad input), ResourceExhausted with a message
// starting "message too large" (IsMessageTooLarge() tells it apart from a full
// disk), PermissionDenied / Unauthenticated (ACL / TLS), DeadlineExceeded,
// Cancelled (CallOptions::cancel), FailedPrecondition (the client or
// subscription is closed).
#ifndef PROGLOG_CORE_CLIENT_CLIENT_H_
#define PROGLOG_CORE_CLIENT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/client/cancellation.h"
#include "proto/log/v1/wire.h"

namespace proglog::client {

// Trailing-metadata key in which a follower names the leader's address when it
// refuses a write with UNAVAILABLE (defined with the other wire constants).
inline constexpr const char* kLeaderMetadataKey = wire::kLeaderMetadataKey;

// TLS for every channel, on when `enabled` or any file is given (On()). Empty
// `ca_file` uses the system roots; `cert_file`/`key_file` (both or neither)
// present a client certificate for mutual TLS; `server_name` overrides the name
// checked in the server certificate.
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;

  bool On() const { return enabled || !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

// Where reads go. Writes always go to the leader (except kPinned).
enum class BalancePolicy {
  // Reads rotate over the followers; the leader serves them when it is alone.
  // A follower's OutOfRange past the end is as good as the leader's: the
  // server confirms the end of the log with the leader before answering it.
  kFollowerReads,
  // Reads go to the leader too.
  kLeader,
  // Every call goes to the configured addresses only, the first reachable
  // first: no discovery, and a follower's redirect is reported, not followed.
  // For talking to one particular node (checks, debugging, tests).
  kPinned,
};

struct RetryOptions {
  // Attempts per call, the first included. 1: never retry.
  int max_attempts = 10;
  // The first pause between attempts; each later one doubles, up to
  // `max_backoff`, and is drawn uniformly from [pause/2, pause] (jitter).
  std::chrono::milliseconds initial_backoff{25};
  std::chrono::milliseconds max_backoff{1000};
};

struct Options {
  // "host:port" of one or more servers to learn the cluster from. At least one.
  std::vector<std::string> addresses;
  TlsOptions tls;
  BalancePolicy policy = BalancePolicy::kFollowerReads;
  // Deadline of each call, retries included. Zero means none.
  std::chrono::milliseconds call_timeout{10000};
  // How often the cluster view is refreshed with GetServers while calls are
  // made (it is also refreshed at once after a failure). Zero: only after
  // failures.
  std::chrono::milliseconds refresh_interval{10000};
  RetryOptions retry;
  // The servers' maximum record size in bytes. 0: learned from the server
  // (default). Sizes the receive limit and the check before sending.
  uint64_t max_record_bytes = 0;
};

// Per-call settings. A default-constructed CallOptions uses the client's.
struct CallOptions {
  // Replaces Options::call_timeout for this call (zero: no deadline).
  std::optional<std::chrono::milliseconds> timeout;
  // Cancels the call from another thread; the call then returns Cancelled
  // (outcome unknown for a produce already sent). May be null.
  std::shared_ptr<Cancellation> cancel;
  // The caller's trace context in W3C Trace Context form, sent as the
  // `traceparent` and `tracestate` request metadata of every attempt, so the
  // server's span of the call continues the caller's trace (its parent is the
  // caller's span). Empty: none sent. A traceparent that is not
  // "<version>-<32 hex>-<16 hex>-<2 hex>" with nonzero ids, or a tracestate
  // that is not printable ASCII of at most 512 characters, or a tracestate
  // without a traceparent, fails the call with InvalidArgument naming the field;
  // nothing is sent.
  std::string traceparent;
  std::string tracestate;
};

struct Record {
  std::string value;
  uint64_t offset = 0;
  // What the producer sent as Record.type; 0 if none.
  uint32_t type = 0;
  // The Raft term of the leader that appended the record (so never lower than
  // an earlier record's); 0 on a single local log, and 0 from a subscription or
  // ConsumeToEnd served by log.v1.Batch, which does not carry terms.
  uint64_t term = 0;
};

struct Server {
  std::string id;
  std::string rpc_addr;
  bool is_leader = false;
};

// If `status` is a refused write from a follower that named its leader, that
// address; otherwise nullopt.
std::optional<std::string> NotLeaderAddress(const absl::Status& status);

// True if `status` says a record was too large for the server's (or this
// client's) limit, as opposed to, say, a full disk.
bool IsMessageTooLarge(const absl::Status& status);

// True if `status` is a failed produce that may nevertheless have appended its
// record(s): an attempt reached a server and the answer was lost.
bool IsOutcomeUnknown(const absl::Status& status);

// The offsets a failed ProduceBatch did append before it failed, in request
// order (empty if it appended none). Those records are in the log: a retry
// should send only the values after them.
std::vector<uint64_t> WrittenOffsets(const absl::Status& status);

// A ConsumeStream that follows the tail, resumed on another server when its
// server goes away. Records arrive in offset order; a small buffer is filled
// ahead of Next(), and reading from the server pauses while the buffer is full.
class Subscription {
 public:
  virtual ~Subscription() = default;

  // The next record. DeadlineExceeded if none arrived within `timeout` (the
  // subscription stays usable); Cancelled after Cancel(); Unavailable when no
  // server could carry the stream on within the client's retry budget; the
  // server's error when it refused the stream (e.g. OutOfRange, PermissionDenied).
  virtual absl::StatusOr<Record> Next(std::chrono::milliseconds timeout) = 0;

  // Ends the stream; wakes a Next() blocked in another thread. Idempotent.
  virtual void Cancel() = 0;
};

class Client {
 public:
  // Validates the options and creates the channels; does not wait for a
  // connection (the first call does). InvalidArgument on bad options, NotFound
  // if a TLS file is missing.
  static absl::StatusOr<std::unique_ptr<Client>> Open(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Appends one record at the leader; returns its offset.
  absl::StatusOr<uint64_t> Produce(std::string_view value, const CallOptions& call = {});
  // Appends records in order over one ProduceStream; returns their offsets.
  // Every value is checked against the maximum record size first (learning it
  // from the server if needed): if any is too large, none is sent. If the server
  // fails the batch after appending some, WrittenOffsets(status) lists them.
  absl::StatusOr<std::vector<uint64_t>> ProduceBatch(std::span<const std::string_view> values,
                                                     const CallOptions& call = {});
  // Reads the record at `offset`; OutOfRange if there is none yet.
  absl::StatusOr<Record> Consume(uint64_t offset, const CallOptions& call = {});
  // Reads records from `offset` up to the end of the log as it was when the
  // read began (at most `max_records`; 0: no limit) over one stream (as Subscribe),
  // calling `each` for every record in order; returns the number read. OK with
  // none when `offset` is at the end; OutOfRange below the lowest kept offset.
  // The deadline is call_timeout per record.
  absl::StatusOr<uint64_t> ConsumeToEnd(uint64_t offset, uint64_t max_records,
                                        const std::function<void(const Record&)>& each);
  // Follows the log from `offset` (inclusive), over log.v1.Batch's
  // ConsumeBatchStream (up to 1 MiB of records per message), or log.v1's
  // ConsumeStream on a server without it. The subscription may outlive the
  // client; Close() of the client cancels it.
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(uint64_t offset);
  // The cluster's servers as one of them sees them (fresh, not the cached view).
  absl::StatusOr<std::vector<Server>> GetServers(const CallOptions& call = {});

  // The bootstrap addresses, in order.
  const std::vector<std::string>& Addresses() const;

  // Cancels open subscriptions and drops idle connections; later calls fail
  // with FailedPrecondition.
  // Idempotent.
  void Close();

  class Impl;

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with open subscriptions
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_CLIENT_H_
