// core/client: the C++ client of the log.v1.Log gRPC API. A Client holds one
// channel per server address and spreads calls over them according to a
// load-balancing policy; it follows a "not the leader" redirect once, and fails
// over to the next address when a server is unavailable. Produce, ProduceBatch
// (over the ProduceStream bidi stream), Consume and GetServers are blocking
// calls with a per-call deadline; Subscribe opens a ConsumeStream that follows
// the tail and is drained with Subscription::Next(timeout).
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
// (no server answered; NotLeaderAddress() tells whether it was a redirect),
// InvalidArgument (bad input), ResourceExhausted with a message starting
// "message too large" (a record over the maximum, refused by this client or by
// the server; IsMessageTooLarge() tells it apart from a full disk), PermissionDenied /
// Unauthenticated (ACL / TLS), DeadlineExceeded, Cancelled, FailedPrecondition
// (the client or subscription is closed).
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
#include "proto/log/v1/wire.h"

namespace proglog::client {

// Trailing-metadata key in which a follower names the leader's address when it
// refuses a write with UNAVAILABLE (defined with the other wire constants).
inline constexpr const char* kLeaderMetadataKey = wire::kLeaderMetadataKey;

// TLS for every channel. Empty `ca_file` with `enabled` uses the system roots;
// `cert_file`/`key_file` (both or neither) present a client certificate for
// mutual TLS; `server_name` overrides the name checked in the server certificate.
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

// How calls are spread over the configured addresses.
enum class BalancePolicy {
  // Every call goes to the first address that answers; others are fallbacks.
  kFirstAvailable,
  // Reads rotate over all addresses; writes go to the first address that
  // answers (or to the leader a follower redirected us to).
  kRoundRobin,
};

struct Options {
  // "host:port" of one or more servers. At least one is required.
  std::vector<std::string> addresses;
  TlsOptions tls;
  BalancePolicy policy = BalancePolicy::kFirstAvailable;
  // Deadline of each unary call and of a whole ProduceBatch. Zero means none.
  std::chrono::milliseconds call_timeout{10000};
  // The servers' maximum record size in bytes. 0: learned from the server
  // (default). Sizes the receive limit and the check before sending.
  uint64_t max_record_bytes = 0;
};

struct Record {
  std::string value;
  uint64_t offset = 0;
  // What the producer sent as Record.type; 0 if none.
  uint32_t type = 0;
  // The Raft term in which the record was committed; 0 on a single local log.
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

// The offsets a failed ProduceBatch did append before it failed, in request
// order (empty if it appended none). Those records are in the log: a retry
// should send only the values after them.
std::vector<uint64_t> WrittenOffsets(const absl::Status& status);

// A ConsumeStream that follows the tail. Records arrive in offset order; a small
// buffer is filled ahead of Next(), and reading from the server pauses while the
// buffer is full.
class Subscription {
 public:
  virtual ~Subscription() = default;

  // The next record. DeadlineExceeded if none arrived within `timeout` (the
  // subscription stays usable); Cancelled after Cancel(); the stream's error
  // (Unavailable when the server went away) once it has ended.
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
  virtual ~Client() = default;

  // Appends one record; returns its offset.
  virtual absl::StatusOr<uint64_t> Produce(std::string_view value) = 0;
  // Appends records in order over one ProduceStream; returns their offsets.
  // Every value is checked against the maximum record size first (learning it
  // from the server if needed): if any is too large, none is sent. If the server
  // fails the batch after appending some, WrittenOffsets(status) lists them.
  virtual absl::StatusOr<std::vector<uint64_t>> ProduceBatch(
      std::span<const std::string_view> values) = 0;
  // Reads the record at `offset`; OutOfRange if there is none yet.
  virtual absl::StatusOr<Record> Consume(uint64_t offset) = 0;
  // Reads records from `offset` up to the end of the log as it was when the
  // read began (at most `max_records`; 0: no limit) over one ConsumeStream,
  // calling `each` for every record in order; returns the number read. OK with
  // none when `offset` is at the end; OutOfRange below the lowest kept offset.
  // The deadline is call_timeout per record.
  virtual absl::StatusOr<uint64_t> ConsumeToEnd(uint64_t offset, uint64_t max_records,
                                                const std::function<void(const Record&)>& each) = 0;
  // Follows the log from `offset` (inclusive). The subscription may outlive the
  // client; Close() of the client cancels it.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(uint64_t offset) = 0;
  // The cluster's servers as one of them sees them.
  virtual absl::StatusOr<std::vector<Server>> GetServers() = 0;

  // The configured addresses, in order.
  virtual const std::vector<std::string>& Addresses() const = 0;

  // Cancels open subscriptions; later calls fail with FailedPrecondition.
  // Idempotent.
  virtual void Close() = 0;
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_CLIENT_H_
