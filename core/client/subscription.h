// Subscriptions: a stream read ahead into a small buffer (StreamReactor), wrapped
// in a Subscription that carries on from the next offset on another server when
// its server goes away (ResumingSubscription). The stream is log.v1.Batch's
// ConsumeBatchStream (many records per message) where the server has it, and
// log.v1's ConsumeStream where it answers UNIMPLEMENTED (an original server).
#ifndef PROGLOG_CORE_CLIENT_SUBSCRIPTION_H_
#define PROGLOG_CORE_CLIENT_SUBSCRIPTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/client/client.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::client {

class StreamReader;

// A record as the wire carries it, as the client hands it out.
Record ToRecord(const logpb::v1::Record& record);

// One ConsumeStream or ConsumeBatchStream on one server. Destroying it cancels
// the stream and waits until gRPC is done with it; the stub (and with it the
// channel) is released only after that.
class Stream {
 public:
  // A log.v1 ConsumeStream from `offset`.
  Stream(std::string address, const std::shared_ptr<logpb::v1::Log::Stub>& stub, uint64_t offset);
  // A log.v1.Batch ConsumeBatchStream from `offset` (records carry term 0).
  Stream(std::string address, const std::shared_ptr<logpb::v1::Batch::Stub>& stub, uint64_t offset);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  const std::string& address() const { return address_; }
  // Whether this is a ConsumeBatchStream.
  bool batched() const { return batched_; }
  absl::StatusOr<Record> Next(absl::Time deadline);
  void Cancel();
  // The end offset the server announced when the stream began: nullopt if it
  // announced none (an older server); the stream's error if it failed first;
  // DeadlineExceeded if the server has not answered by `deadline`.
  absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline);

 private:
  const std::string address_;
  const bool batched_ = false;
  std::shared_ptr<void> stub_;  // declared first: released after the reader
  std::unique_ptr<StreamReader> reader_;
};

// The open subscriptions of a client, so that Client::Close can cancel them.
// Shared by the client and its subscriptions, since either may go first.
class SubscriptionRegistry {
 public:
  // False if the client is already closed (the caller cancels the subscription).
  bool Add(Subscription* subscription);
  void Remove(Subscription* subscription);
  // Cancels every open subscription, and refuses new ones.
  void CloseAll();

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Subscription*> live_ ABSL_GUARDED_BY(mu_);
};

// What a ResumingSubscription needs from its client.
struct StreamSource {
  // Picks a server for reading and opens a stream on it from `offset`.
  std::function<absl::StatusOr<std::unique_ptr<Stream>>(uint64_t offset)> open;
  // The stream's server went away (the client stops picking it for a while).
  std::function<void(const std::string& address)> failed;
  // A server answered a ConsumeBatchStream with UNIMPLEMENTED: `open` opens
  // log.v1 ConsumeStreams from now on.
  std::function<void()> batch_refused;
  RetryOptions retry;
};

// Follows the log from an offset, reopening the stream on another server from
// the offset after the last record delivered whenever the server goes away.
// Gives up with Unavailable after retry.max_attempts reopenings in a row that
// delivered nothing.
class ResumingSubscription : public Subscription {
 public:
  ResumingSubscription(StreamSource source, uint64_t offset,
                       std::shared_ptr<SubscriptionRegistry> registry);
  ~ResumingSubscription() override;

  absl::StatusOr<Record> Next(std::chrono::milliseconds timeout) override;
  void Cancel() override;
  // The end offset announced by the server the first stream went to; opens
  // that stream if need be.
  absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline);

 private:
  // Opens a stream if there is none, waiting out the backoff first; OK with a
  // stream in current_, or the reason there is none.
  absl::Status EnsureStream(absl::Time deadline);
  // Drops the current stream after it failed with `status`.
  void DropStream(const absl::Status& status);
  // True (and the stream dropped, to be reopened at once as a log.v1 one) if
  // `status` is a server refusing the batch stream.
  bool FellBackFromBatch(const absl::Status& status);
  Stream* Current();

  const StreamSource source_;
  const std::shared_ptr<SubscriptionRegistry> registry_;
  const std::shared_ptr<Cancellation> cancel_ = std::make_shared<Cancellation>();

  // Touched by the thread calling Next only.
  uint64_t next_offset_;
  int failures_ = 0;  // reopenings in a row that delivered nothing
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfinitePast();
  absl::Status last_failure_;

  // current_ is replaced by the Next thread under mu_ and read under mu_ by
  // Cancel; only the Next thread dereferences it without mu_.
  absl::Mutex mu_;
  std::unique_ptr<Stream> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_SUBSCRIPTION_H_
