#include "core/client/subscription.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <type_traits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/client/backoff.h"
#include "core/client/status.h"
#include "proto/log/v1/wire.h"

namespace proglog::client {
namespace {

// Records buffered ahead of Subscription::Next before reading pauses.
constexpr size_t kSubscriptionBuffer = 256;

}  // namespace

Record ToRecord(const logpb::v1::Record& record) {
  return Record{record.value(), record.offset(), record.type(), record.term()};
}

// The records of one stream message, appended to `out` in order.
void AppendRecords(logpb::v1::ConsumeResponse& response, std::deque<Record>* out) {
  out->push_back(ToRecord(response.record()));
}

// log.v1.Batch carries no term: records read through it have term 0.
void AppendRecords(logpb::v1::ConsumeBatchResponse& response, std::deque<Record>* out) {
  const bool typed = response.types_size() == response.values_size();
  for (int i = 0; i < response.values_size(); ++i) {
    out->push_back(Record{std::move(*response.mutable_values(i)), response.base_offset() + i,
                          typed ? response.types(i) : 0, 0});
  }
}

// What a Stream reads from: one server-streaming call of either kind.
class StreamReader {
 public:
  virtual ~StreamReader() = default;
  virtual absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline) = 0;
  virtual absl::StatusOr<Record> Next(absl::Time deadline) = 0;
  virtual void Cancel() = 0;
  // Waits until gRPC has finished with the call; false after `timeout`.
  virtual bool WaitDone(absl::Duration timeout) = 0;
};

// One ConsumeStream (Response = ConsumeResponse, a record per message) or
// ConsumeBatchStream (ConsumeBatchResponse, many), owned by the Stream that
// wraps it. Its owner destroys it only after OnDone, on the application's
// thread, never in a reaction: its ClientContext holds a reference to the
// grpc::Channel, and the last reference to a channel must not be dropped on a
// gRPC callback thread (gRPC 1.51 then tears the callback queue down from its
// own thread and corrupts it). A hold keeps the call open while reading is
// paused for a full buffer; it is released only from application threads
// (Cancel, or Next after the stream ended), never from a reaction, so
// StartRead after a pause cannot race OnDone.
template <typename Request, typename Response>
class StreamReactor final : public StreamReader, public grpc::ClientReadReactor<Response> {
 public:
  // `start_call` hands the request and this reactor to the stub's async() method.
  template <typename StartCall>
  static std::unique_ptr<StreamReactor> Start(Request request, StartCall start_call) {
    auto reactor = std::unique_ptr<StreamReactor>(new StreamReactor(std::move(request)));
    start_call(&reactor->context_, &reactor->request_, reactor.get());
    reactor->AddHold();
    reactor->StartRead(&reactor->response_);
    reactor->StartCall();
    return reactor;
  }

  void OnReadInitialMetadataDone(bool ok) override {
    std::optional<uint64_t> end;
    if (ok) {
      const auto& metadata = context_.GetServerInitialMetadata();
      auto it = metadata.find(wire::kEndOffsetMetadataKey);
      uint64_t value = 0;
      if (it != metadata.end() &&
          absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &value)) {
        end = value;
      }
    }
    absl::MutexLock lock(&mu_);
    end_offset_ = end;
    metadata_done_ = true;
  }

  // The end offset the server announced when the stream began: nullopt if it
  // announced none (an older server) or the stream failed first; DeadlineExceeded
  // if the server has not answered by `deadline`.
  absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    // Every server of log.v1.Batch announces the end, so a batch stream's
    // metadata without it is a refusal (UNIMPLEMENTED, say) still on its way.
    constexpr bool kEndAlwaysAnnounced = std::is_same_v<Response, logpb::v1::ConsumeBatchResponse>;
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return done_ || ended_ || cancelled_ ||
             (metadata_done_ && (end_offset_.has_value() || !kEndAlwaysAnnounced));
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return absl::DeadlineExceededError("the server did not answer before the timeout");
    }
    if (!end_offset_.has_value() && ended_ && !done_) {
      // The stream is over before it announced anything: OnDone, with the
      // reason, comes once the hold is released.
      mu_.Unlock();
      ReleaseHold();
      mu_.Lock();
      if (!mu_.AwaitWithDeadline(absl::Condition(&done_), deadline)) {
        return absl::DeadlineExceededError("the stream is ending");
      }
    }
    if (!end_offset_.has_value() && done_ && !final_.ok()) return final_;
    return end_offset_;
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      ended_ = true;  // OnDone brings the status once the hold is released.
      return;
    }
    AppendRecords(response_, &buffer_);
    if (buffer_.size() < kSubscriptionBuffer) {
      this->StartRead(&response_);
    } else {
      paused_ = true;  // Next() resumes reading once it has taken a record.
    }
  }

  void OnDone(const grpc::Status& status) override {
    // The owner may destroy *this as soon as the signal fires, so the signal is
    // kept alive by a reference of our own and nothing of *this is touched after.
    std::shared_ptr<absl::Notification> signal = done_signal_;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      final_ = FromGrpc(status);
    }
    signal->Notify();
  }

  absl::StatusOr<Record> Next(absl::Time deadline) override {
    bool resume = false;
    absl::StatusOr<Record> result;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return cancelled_ || !buffer_.empty() || ended_ || done_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
      if (cancelled_) return absl::CancelledError("subscription cancelled");
      if (buffer_.empty()) {
        if (!ended_ && !done_) {
          return absl::DeadlineExceededError("no record arrived before the timeout");
        }
        if (!done_) {
          mu_.Unlock();
          ReleaseHold();
          mu_.Lock();
          mu_.AwaitWithDeadline(absl::Condition(&done_), deadline);
          if (!done_) return absl::DeadlineExceededError("the stream is ending");
        }
        if (final_.ok()) return absl::UnavailableError("the server ended the stream");
        return final_;
      }
      result = std::move(buffer_.front());
      buffer_.pop_front();
      // A batch message may have filled the buffer past its size: reading
      // resumes once the reader has taken it below.
      resume = paused_ && buffer_.size() < kSubscriptionBuffer;
      if (resume) paused_ = false;
    }
    if (resume) ResumeRead();
    return result;
  }

  void Cancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
    }
    context_.TryCancel();
    ReleaseHold();
  }

  bool WaitDone(absl::Duration timeout) override {
    return done_signal_->WaitForNotificationWithTimeout(timeout);
  }

 private:
  explicit StreamReactor(Request request) : request_(std::move(request)) {}

  // op_mu_ is never taken inside a reaction, and reactions that gRPC runs inline
  // from StartRead/RemoveHold take only mu_, so neither call can deadlock here.
  void ResumeRead() {
    absl::MutexLock lock(&op_mu_);
    if (!hold_released_) this->StartRead(&response_);
  }

  void ReleaseHold() {
    absl::MutexLock lock(&op_mu_);
    if (hold_released_) return;
    hold_released_ = true;
    this->RemoveHold();
  }

  grpc::ClientContext context_;
  const std::shared_ptr<absl::Notification> done_signal_ = std::make_shared<absl::Notification>();
  Request request_;
  Response response_;

  absl::Mutex op_mu_;
  bool hold_released_ ABSL_GUARDED_BY(op_mu_) = false;

  absl::Mutex mu_;
  std::deque<Record> buffer_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool metadata_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint64_t> end_offset_ ABSL_GUARDED_BY(mu_);
  absl::Status final_ ABSL_GUARDED_BY(mu_);
};

namespace {

std::unique_ptr<StreamReader> StartConsumeStream(logpb::v1::Log::Stub& stub, uint64_t offset) {
  logpb::v1::ConsumeRequest request;
  request.set_offset(offset);
  return StreamReactor<logpb::v1::ConsumeRequest, logpb::v1::ConsumeResponse>::Start(
      std::move(request), [&stub](auto* context, auto* request, auto* reactor) {
        stub.async()->ConsumeStream(context, request, reactor);
      });
}

std::unique_ptr<StreamReader> StartConsumeBatchStream(logpb::v1::Batch::Stub& stub,
                                                      uint64_t offset) {
  logpb::v1::ConsumeBatchRequest request;
  request.set_offset(offset);  // the server's default bounds: 1 MiB, 4096 records
  return StreamReactor<logpb::v1::ConsumeBatchRequest, logpb::v1::ConsumeBatchResponse>::Start(
      std::move(request), [&stub](auto* context, auto* request, auto* reactor) {
        stub.async()->ConsumeBatchStream(context, request, reactor);
      });
}

}  // namespace

Stream::Stream(std::string address, const std::shared_ptr<logpb::v1::Log::Stub>& stub,
               uint64_t offset)
    : address_(std::move(address)), stub_(stub), reader_(StartConsumeStream(*stub, offset)) {}

Stream::Stream(std::string address, const std::shared_ptr<logpb::v1::Batch::Stub>& stub,
               uint64_t offset)
    : address_(std::move(address)),
      batched_(true),
      stub_(stub),
      reader_(StartConsumeBatchStream(*stub, offset)) {}

Stream::~Stream() {
  reader_->Cancel();
  // Cancellation is local, so OnDone comes promptly; the bound only guards
  // against a hang. Past it, the reader and the channel are leaked rather
  // than destroyed under a call gRPC may still complete.
  if (!reader_->WaitDone(absl::Seconds(30))) {
    static_cast<void>(reader_.release());
    new std::shared_ptr<void>(std::move(stub_));
  }
}

absl::StatusOr<Record> Stream::Next(absl::Time deadline) { return reader_->Next(deadline); }

void Stream::Cancel() { reader_->Cancel(); }

absl::StatusOr<std::optional<uint64_t>> Stream::EndOffset(absl::Time deadline) {
  return reader_->EndOffset(deadline);
}

bool SubscriptionRegistry::Add(Subscription* subscription) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  live_.insert(subscription);
  return true;
}

void SubscriptionRegistry::Remove(Subscription* subscription) {
  absl::MutexLock lock(&mu_);
  live_.erase(subscription);
}

// Cancel runs under mu_ so that no subscription can be removed and destroyed
// meanwhile; it takes only the subscription's own locks.
void SubscriptionRegistry::CloseAll() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Subscription* subscription : live_) subscription->Cancel();
}

ResumingSubscription::ResumingSubscription(StreamSource source, uint64_t offset,
                                           std::shared_ptr<SubscriptionRegistry> registry)
    : source_(std::move(source)), registry_(std::move(registry)), next_offset_(offset) {
  if (!registry_->Add(this)) Cancel();
}

ResumingSubscription::~ResumingSubscription() {
  registry_->Remove(this);
  Cancel();
  std::unique_ptr<Stream> stream;
  {
    absl::MutexLock lock(&mu_);
    stream = std::move(current_);
  }
}

void ResumingSubscription::Cancel() {
  cancel_->Cancel();
  absl::MutexLock lock(&mu_);
  if (current_) current_->Cancel();
}

Stream* ResumingSubscription::Current() {
  absl::MutexLock lock(&mu_);
  return current_.get();
}

absl::Status ResumingSubscription::EnsureStream(absl::Time deadline) {
  while (Current() == nullptr) {
    if (cancel_->IsCancelled()) return absl::CancelledError("subscription cancelled");
    if (failures_ >= source_.retry.max_attempts) return last_failure_;
    if (retry_at_ > deadline) {
      if (!cancel_->SleepUntil(deadline)) continue;
      return absl::DeadlineExceededError("no record arrived before the timeout");
    }
    if (!cancel_->SleepUntil(retry_at_)) continue;
    absl::StatusOr<std::unique_ptr<Stream>> opened = source_.open(next_offset_);
    if (!opened.ok()) {
      if (!IsRetryable(opened.status())) return opened.status();
      DropStream(opened.status());
      continue;
    }
    absl::MutexLock lock(&mu_);
    current_ = *std::move(opened);
    // A Cancel() that ran before the stream was in place did not reach it.
    if (cancel_->IsCancelled()) current_->Cancel();
  }
  return absl::OkStatus();
}

void ResumingSubscription::DropStream(const absl::Status& status) {
  std::unique_ptr<Stream> stream;
  {
    absl::MutexLock lock(&mu_);
    stream = std::move(current_);
  }
  if (stream) source_.failed(stream->address());
  ++failures_;
  last_failure_ = absl::UnavailableError(
      absl::StrCat("no server could carry the subscription on from offset ", next_offset_,
                   " after ", failures_, " attempts; the last said: ", status.message()));
  retry_at_ = absl::Now() + NextBackoff(backoff_, source_.retry);
}

bool ResumingSubscription::FellBackFromBatch(const absl::Status& status) {
  if (!absl::IsUnimplemented(status) || !Current()->batched()) return false;
  source_.batch_refused();
  std::unique_ptr<Stream> stream;
  absl::MutexLock lock(&mu_);
  stream = std::move(current_);
  return true;
}

absl::StatusOr<Record> ResumingSubscription::Next(std::chrono::milliseconds timeout) {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  for (;;) {
    if (absl::Status ready = EnsureStream(deadline); !ready.ok()) return ready;
    absl::StatusOr<Record> record = Current()->Next(deadline);
    if (record.ok()) {
      next_offset_ = record->offset + 1;
      failures_ = 0;
      backoff_ = absl::ZeroDuration();
      return record;
    }
    if (cancel_->IsCancelled()) return absl::CancelledError("subscription cancelled");
    if (FellBackFromBatch(record.status())) continue;
    // The server went away, or ended the stream (it is shutting down): carry
    // on elsewhere. Any other error is the server's answer to the request.
    if (!absl::IsUnavailable(record.status())) return record.status();
    DropStream(record.status());
  }
}

absl::StatusOr<std::optional<uint64_t>> ResumingSubscription::EndOffset(absl::Time deadline) {
  for (;;) {
    if (absl::Status ready = EnsureStream(deadline); !ready.ok()) return ready;
    absl::StatusOr<std::optional<uint64_t>> end = Current()->EndOffset(deadline);
    if (end.ok() || !FellBackFromBatch(end.status())) return end;
  }
}

}  // namespace proglog::client
