#include "core/client/subscription.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/client/backoff.h"
#include "core/client/status.h"

namespace proglog::client {
namespace {

// Records buffered ahead of Subscription::Next before reading pauses.
constexpr size_t kSubscriptionBuffer = 256;

}  // namespace

using logpb::v1::Log;

Record ToRecord(const logpb::v1::Record& record) {
  return Record{record.value(), record.offset(), record.type(), record.term()};
}

// One ConsumeStream, owned by the Stream that wraps it. Its owner
// destroys it only after OnDone, on the application's thread, never in a
// reaction: its ClientContext holds a reference to the grpc::Channel, and the
// last reference to a channel must not be dropped on a gRPC callback thread
// (gRPC 1.51 then tears the callback queue down from its own thread and
// corrupts it). A
// hold keeps the call open while reading is paused for a full buffer; it is
// released only from application threads (Cancel, or Next after the stream
// ended), never from a reaction, so StartRead after a pause cannot race OnDone.
class StreamReactor final : public grpc::ClientReadReactor<logpb::v1::ConsumeResponse> {
 public:
  static std::unique_ptr<StreamReactor> Start(Log::Stub& stub, uint64_t offset) {
    auto reactor = std::unique_ptr<StreamReactor>(new StreamReactor());
    reactor->request_.set_offset(offset);
    stub.async()->ConsumeStream(&reactor->context_, &reactor->request_, reactor.get());
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
  absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return metadata_done_ || done_ || cancelled_;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return absl::DeadlineExceededError("the server did not answer before the timeout");
    }
    if (!metadata_done_ && done_ && !final_.ok()) return final_;
    return end_offset_;
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      ended_ = true;  // OnDone brings the status once the hold is released.
      return;
    }
    buffer_.push_back(ToRecord(response_.record()));
    if (buffer_.size() < kSubscriptionBuffer) {
      StartRead(&response_);
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

  absl::StatusOr<Record> Next(absl::Time deadline) {
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
      resume = paused_;
      paused_ = false;
    }
    if (resume) ResumeRead();
    return result;
  }

  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
    }
    context_.TryCancel();
    ReleaseHold();
  }

  // Waits until gRPC has finished with the call; false after `timeout`.
  bool WaitDone(absl::Duration timeout) {
    return done_signal_->WaitForNotificationWithTimeout(timeout);
  }

 private:
  StreamReactor() = default;

  // op_mu_ is never taken inside a reaction, and reactions that gRPC runs inline
  // from StartRead/RemoveHold take only mu_, so neither call can deadlock here.
  void ResumeRead() {
    absl::MutexLock lock(&op_mu_);
    if (!hold_released_) StartRead(&response_);
  }

  void ReleaseHold() {
    absl::MutexLock lock(&op_mu_);
    if (hold_released_) return;
    hold_released_ = true;
    RemoveHold();
  }

  grpc::ClientContext context_;
  const std::shared_ptr<absl::Notification> done_signal_ = std::make_shared<absl::Notification>();
  logpb::v1::ConsumeRequest request_;
  logpb::v1::ConsumeResponse response_;

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

Stream::Stream(std::string address, std::shared_ptr<logpb::v1::Log::Stub> stub, uint64_t offset)
    : address_(std::move(address)),
      stub_(std::move(stub)),
      reactor_(StreamReactor::Start(*stub_, offset)) {}

Stream::~Stream() {
  reactor_->Cancel();
  // Cancellation is local, so OnDone comes promptly; the bound only guards
  // against a hang. Past it, the reactor and the channel are leaked rather
  // than destroyed under a call gRPC may still complete.
  if (!reactor_->WaitDone(absl::Seconds(30))) {
    reactor_.release();
    new std::shared_ptr<logpb::v1::Log::Stub>(std::move(stub_));
  }
}

absl::StatusOr<Record> Stream::Next(absl::Time deadline) { return reactor_->Next(deadline); }

void Stream::Cancel() { reactor_->Cancel(); }

absl::StatusOr<std::optional<uint64_t>> Stream::EndOffset(absl::Time deadline) {
  return reactor_->EndOffset(deadline);
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
    // The server went away, or ended the stream (it is shutting down): carry
    // on elsewhere. Any other error is the server's answer to the request.
    if (!absl::IsUnavailable(record.status())) return record.status();
    DropStream(record.status());
  }
}

absl::StatusOr<std::optional<uint64_t>> ResumingSubscription::EndOffset(absl::Time deadline) {
  if (absl::Status ready = EnsureStream(deadline); !ready.ok()) return ready;
  return Current()->EndOffset(deadline);
}

}  // namespace proglog::client
