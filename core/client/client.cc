#include "core/client/client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "log/v1/log.grpc.pb.h"
#include "log/v1/log.pb.h"

namespace proglog::client {
namespace {

using logpb::v1::Log;

// Payload attached to an Unavailable status that came with a leader redirect.
constexpr char kNotLeaderPayload[] = "type.proglog.dev/not-leader";
// Payload of a failed ProduceBatch: the offsets it appended, comma-separated.
constexpr char kWrittenOffsetsPayload[] = "type.proglog.dev/written-offsets";
// What every "record too large" message starts with, ours and the server's.
constexpr char kTooLarge[] = "message too large";
// Room for the envelope of a record (offset, term, type, framing) above the
// maximum value size, in the receive limit.
constexpr uint64_t kEnvelopeSlack = 64 << 10;
// Records buffered ahead of Subscription::Next before reading pauses.
constexpr size_t kSubscriptionBuffer = 256;

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC's own message-size limits (either side's) say "... larger than max";
  // name them as what they are, not as an exhausted resource such as a disk.
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      !absl::StartsWith(status.error_message(), kTooLarge) &&
      absl::StrContains(status.error_message(), "larger than max")) {
    return absl::ResourceExhaustedError(absl::StrCat(kTooLarge, ": ", status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status TooLarge(size_t index, size_t size, uint64_t max) {
  return absl::ResourceExhaustedError(absl::StrCat(kTooLarge, ": value ", index, " is ", size,
                                                   " bytes; the maximum record size is ", max,
                                                   " bytes; nothing was sent"));
}

// The maximum record size a server announced in `metadata`; 0 if none.
uint64_t AnnouncedMaxRecordBytes(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find(wire::kMaxRecordBytesMetadataKey);
  uint64_t max = 0;
  if (it == metadata.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &max)) {
    return 0;
  }
  return max;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read TLS ", what, " file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(const TlsOptions& tls) {
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("TLS cert_file and key_file must be given together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    auto ca = ReadFile(tls.ca_file, "CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    auto cert = ReadFile(tls.cert_file, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(tls.key_file, "key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

struct Endpoint {
  std::string address;
  std::shared_ptr<Log::Stub> stub;
};

Record ToRecord(const logpb::v1::Record& record) {
  return Record{record.value(), record.offset(), record.type(), record.term()};
}

// One ConsumeStream, owned by the StreamSubscription that wraps it. Its owner
// destroys it only after OnDone, on the application's thread, never in a
// reaction: its ClientContext holds a reference to the grpc::Channel, and the
// last reference to a channel must not be dropped on a gRPC callback thread
// (gRPC 1.51 then tears the callback queue down from its own thread and
// corrupts it). A
// hold keeps the call open while reading is paused for a full buffer; it is
// released only from application threads (Cancel, or Next after the stream
// ended), never from a reaction, so StartRead after a pause cannot race OnDone.
class StreamReactor : public grpc::ClientReadReactor<logpb::v1::ConsumeResponse> {
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

  absl::StatusOr<Record> Next(std::chrono::milliseconds timeout) {
    const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
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

// The open subscriptions of a client, so that Client::Close can cancel them.
// Shared by the client and its subscriptions, since either may go first.
class SubscriptionRegistry {
 public:
  // False if the client is already closed (the caller cancels the stream).
  bool Add(StreamReactor* reactor) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    live_.insert(reactor);
    return true;
  }
  void Remove(StreamReactor* reactor) {
    absl::MutexLock lock(&mu_);
    live_.erase(reactor);
  }
  // Cancels every open subscription. Cancel runs under mu_ so that no reactor
  // can be removed and destroyed meanwhile; it takes only the reactor's locks.
  void CloseAll() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (StreamReactor* reactor : live_) reactor->Cancel();
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::set<StreamReactor*> live_ ABSL_GUARDED_BY(mu_);
};

class StreamSubscription : public Subscription {
 public:
  StreamSubscription(std::shared_ptr<Log::Stub> stub, std::unique_ptr<StreamReactor> reactor,
                     std::shared_ptr<SubscriptionRegistry> registry)
      : stub_(std::move(stub)), reactor_(std::move(reactor)), registry_(std::move(registry)) {
    if (!registry_->Add(reactor_.get())) reactor_->Cancel();
  }
  ~StreamSubscription() override {
    registry_->Remove(reactor_.get());
    reactor_->Cancel();
    // Cancellation is local, so OnDone comes promptly; the bound only guards
    // against a hang. Past it, the reactor and the channel are leaked rather
    // than destroyed under a call gRPC may still complete.
    if (!reactor_->WaitDone(absl::Seconds(30))) {
      reactor_.release();
      new std::shared_ptr<Log::Stub>(std::move(stub_));
    }
  }

  absl::StatusOr<Record> Next(std::chrono::milliseconds timeout) override {
    return reactor_->Next(timeout);
  }
  void Cancel() override { reactor_->Cancel(); }
  absl::StatusOr<std::optional<uint64_t>> EndOffset(absl::Time deadline) {
    return reactor_->EndOffset(deadline);
  }

 private:
  std::shared_ptr<Log::Stub> stub_;  // Declared first: released after the reactor.
  std::unique_ptr<StreamReactor> reactor_;
  std::shared_ptr<SubscriptionRegistry> registry_;
};

class ClientImpl : public Client {
 public:
  ClientImpl(Options options, std::vector<Endpoint> endpoints)
      : options_(std::move(options)), endpoints_(std::move(endpoints)) {}
  ~ClientImpl() override { Close(); }

  absl::StatusOr<uint64_t> Produce(std::string_view value) override {
    if (const uint64_t max = MaxRecordBytes(); max > 0 && value.size() > max) {
      return TooLarge(0, value.size(), max);
    }
    logpb::v1::ProduceResponse response;
    absl::Status status = Call(/*write=*/true, [&](Endpoint& endpoint, grpc::ClientContext& ctx) {
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value(value.data(), value.size());
      return endpoint.stub->Produce(&ctx, request, &response);
    });
    if (!status.ok()) return status;
    return response.offset();
  }

  absl::StatusOr<std::vector<uint64_t>> ProduceBatch(
      std::span<const std::string_view> values) override {
    std::vector<uint64_t> offsets;
    if (values.empty()) return offsets;
    // All or nothing at validation: no value leaves before every one passed.
    if (absl::Status checked = CheckSizes(values); !checked.ok()) return checked;
    bool retry_safe = true;
    absl::Status status = Call(
        /*write=*/true,
        [&](Endpoint& endpoint, grpc::ClientContext& ctx) {
          offsets.clear();
          return StreamBatch(endpoint, ctx, values, offsets, retry_safe);
        },
        &retry_safe);
    if (!status.ok()) {
      if (!offsets.empty()) {
        status = absl::Status(status.code(),
                              absl::StrCat(status.message(), " (after appending ", offsets.size(),
                                           " of ", values.size(), " records, at offsets ",
                                           offsets.front(), "..", offsets.back(), ")"));
        status.SetPayload(kWrittenOffsetsPayload, absl::Cord(absl::StrJoin(offsets, ",")));
      }
      return status;
    }
    return offsets;
  }

  absl::StatusOr<Record> Consume(uint64_t offset) override {
    logpb::v1::ConsumeResponse response;
    absl::Status status = Call(/*write=*/false, [&](Endpoint& endpoint, grpc::ClientContext& ctx) {
      logpb::v1::ConsumeRequest request;
      request.set_offset(offset);
      return endpoint.stub->Consume(&ctx, request, &response);
    });
    if (!status.ok()) return status;
    return ToRecord(response.record());
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(uint64_t offset) override {
    absl::StatusOr<std::unique_ptr<StreamSubscription>> stream = OpenStream(offset);
    if (!stream.ok()) return stream.status();
    return std::unique_ptr<Subscription>(*std::move(stream));
  }

  absl::StatusOr<uint64_t> ConsumeToEnd(uint64_t offset, uint64_t max_records,
                                        const std::function<void(const Record&)>& each) override {
    absl::StatusOr<std::unique_ptr<StreamSubscription>> stream = OpenStream(offset);
    if (!stream.ok()) return stream.status();
    const absl::Duration timeout = options_.call_timeout.count() > 0
                                       ? absl::FromChrono(options_.call_timeout)
                                       : absl::InfiniteDuration();
    absl::StatusOr<std::optional<uint64_t>> end = (*stream)->EndOffset(absl::Now() + timeout);
    if (!end.ok()) return end.status();
    if (!end->has_value()) {
      (*stream)->Cancel();
      return ConsumeOneByOne(offset, max_records, each);  // a server that announces no end
    }
    const std::chrono::milliseconds per_record =
        options_.call_timeout.count() > 0 ? options_.call_timeout : std::chrono::hours(24 * 365);
    uint64_t read = 0;
    for (uint64_t next = offset; next < **end && (max_records == 0 || read < max_records);) {
      absl::StatusOr<Record> record = (*stream)->Next(per_record);
      if (!record.ok()) return record.status();
      next = record->offset + 1;
      each(*record);
      ++read;
    }
    (*stream)->Cancel();
    return read;
  }

  absl::StatusOr<std::vector<Server>> GetServers() override {
    logpb::v1::GetServersResponse response;
    absl::Status status = Call(/*write=*/false, [&](Endpoint& endpoint, grpc::ClientContext& ctx) {
      return endpoint.stub->GetServers(&ctx, logpb::v1::GetServersRequest(), &response);
    });
    if (!status.ok()) return status;
    std::vector<Server> servers;
    for (const auto& server : response.servers()) {
      servers.push_back(Server{server.id(), server.rpc_addr(), server.is_leader()});
    }
    return servers;
  }

  const std::vector<std::string>& Addresses() const override { return options_.addresses; }

  // The maximum record size configured or learned; 0 while unknown.
  uint64_t MaxRecordBytes() const {
    if (options_.max_record_bytes > 0) return options_.max_record_bytes;
    return learned_max_record_bytes_.load(std::memory_order_relaxed);
  }

  void Close() override {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    subscriptions_->CloseAll();
  }

 private:
  using Attempt = std::function<grpc::Status(Endpoint&, grpc::ClientContext&)>;

  absl::StatusOr<std::unique_ptr<StreamSubscription>> OpenStream(uint64_t offset) {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::FailedPreconditionError("client is closed");
    std::shared_ptr<Log::Stub> stub = endpoints_[ReadStart()].stub;
    auto reactor = StreamReactor::Start(*stub, offset);
    return std::make_unique<StreamSubscription>(std::move(stub), std::move(reactor),
                                                subscriptions_);
  }

  // ConsumeToEnd for a server that does not announce the end of its log.
  absl::StatusOr<uint64_t> ConsumeOneByOne(uint64_t offset, uint64_t max_records,
                                           const std::function<void(const Record&)>& each) {
    uint64_t read = 0;
    for (; max_records == 0 || read < max_records; ++read) {
      absl::StatusOr<Record> record = Consume(offset + read);
      if (absl::IsOutOfRange(record.status())) break;  // the end of the log
      if (!record.ok()) return record.status();
      each(*record);
    }
    return read;
  }

  // Refuses the batch if any value is over the maximum record size, learning
  // the maximum from a server first when it is not known yet.
  absl::Status CheckSizes(std::span<const std::string_view> values) {
    if (MaxRecordBytes() == 0) {
      // Any call brings the limit; GetServers is the cheapest. A server that
      // does not announce one leaves the check to the server.
      if (absl::StatusOr<std::vector<Server>> servers = GetServers(); !servers.ok()) {
        return servers.status();
      }
    }
    const uint64_t max = MaxRecordBytes();
    if (max == 0) return absl::OkStatus();
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i].size() > max) return TooLarge(i, values[i].size(), max);
    }
    return absl::OkStatus();
  }

  void LearnLimits(const grpc::ClientContext& ctx) {
    if (const uint64_t max = AnnouncedMaxRecordBytes(ctx.GetServerInitialMetadata()); max > 0) {
      learned_max_record_bytes_.store(max, std::memory_order_relaxed);
    }
  }

  // Runs `attempt` against endpoints in policy order until one answers. A
  // follower's redirect is followed once if the leader is one of our addresses;
  // an unreachable server makes us try the next address while `*retry_safe`.
  absl::Status Call(bool write, const Attempt& attempt, const bool* retry_safe = nullptr) {
    bool closed;
    size_t start;
    {
      absl::MutexLock lock(&mu_);
      closed = closed_;
      start = write ? preferred_writer_ : ReadStart();
    }
    if (closed) return absl::FailedPreconditionError("client is closed");
    const auto deadline = std::chrono::system_clock::now() + options_.call_timeout;
    absl::Status last;
    size_t index = start;
    bool redirected = false;
    for (size_t tries = 0; tries < endpoints_.size() + 1; ++tries) {
      grpc::ClientContext ctx;
      if (options_.call_timeout.count() > 0) ctx.set_deadline(deadline);
      grpc::Status status = attempt(endpoints_[index], ctx);
      LearnLimits(ctx);
      if (status.ok()) {
        if (write) SetPreferredWriter(index);
        return absl::OkStatus();
      }
      last = FromGrpc(status);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return last;
      if (retry_safe != nullptr && !*retry_safe) return last;
      if (auto leader = LeaderFrom(ctx)) {
        last.SetPayload(kNotLeaderPayload, absl::Cord(*leader));
        auto at = IndexOf(*leader);
        if (redirected || !at) return last;
        redirected = true;
        index = *at;
        continue;
      }
      if (tries + 1 >= endpoints_.size()) break;
      index = (index + 1) % endpoints_.size();
    }
    return last;
  }

  static grpc::Status StreamBatch(Endpoint& endpoint, grpc::ClientContext& ctx,
                                  std::span<const std::string_view> values,
                                  std::vector<uint64_t>& offsets, bool& retry_safe) {
    auto stream = endpoint.stub->ProduceStream(&ctx);
    // Responses are read while requests are written, so neither side's flow
    // control window can fill up and stall the other.
    std::thread reader([&] {
      logpb::v1::ProduceResponse response;
      while (offsets.size() < values.size() && stream->Read(&response)) {
        offsets.push_back(response.offset());
      }
    });
    // The buffer hint lets gRPC coalesce requests into few frames instead of
    // flushing each one; the last write (WriteLast) flushes and half-closes.
    logpb::v1::ProduceRequest request;
    const auto buffered = grpc::WriteOptions().set_buffer_hint();
    bool written = true;
    // A write with set_last_message half-closes the stream even when it fails, and a
    // second half-close aborts the call; WritesDone is only for the early-exit paths.
    bool half_closed = false;
    for (size_t i = 0; i + 1 < values.size() && written; ++i) {
      request.mutable_record()->set_value(values[i].data(), values[i].size());
      written = stream->Write(request, buffered);
    }
    if (written) {
      request.mutable_record()->set_value(values.back().data(), values.back().size());
      written = stream->Write(request, grpc::WriteOptions().set_last_message());
      half_closed = true;
    }
    if (!half_closed) stream->WritesDone();
    reader.join();
    grpc::Status status = stream->Finish();
    retry_safe = offsets.empty();
    if (status.ok() && offsets.size() != values.size()) {
      return grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("server acknowledged ", offsets.size(), " of ", values.size(), " records"));
    }
    return status;
  }

  static std::optional<std::string> LeaderFrom(const grpc::ClientContext& ctx) {
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find(kLeaderMetadataKey);
    if (it == trailers.end() || it->second.empty()) return std::nullopt;
    return std::string(it->second.data(), it->second.size());
  }

  std::optional<size_t> IndexOf(const std::string& address) const {
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      if (endpoints_[i].address == address) return i;
    }
    return std::nullopt;
  }

  size_t ReadStart() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.policy == BalancePolicy::kRoundRobin) return next_reader_++ % endpoints_.size();
    return preferred_writer_;
  }

  void SetPreferredWriter(size_t index) {
    absl::MutexLock lock(&mu_);
    preferred_writer_ = index;
  }

  const Options options_;
  // Fixed after construction; stubs are thread-safe.
  std::vector<Endpoint> endpoints_;

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  size_t preferred_writer_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_reader_ ABSL_GUARDED_BY(mu_) = 0;
  const std::shared_ptr<SubscriptionRegistry> subscriptions_ =
      std::make_shared<SubscriptionRegistry>();
  std::atomic<uint64_t> learned_max_record_bytes_{0};
};

}  // namespace

bool IsMessageTooLarge(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && absl::StartsWith(status.message(), kTooLarge);
}

std::vector<uint64_t> WrittenOffsets(const absl::Status& status) {
  std::vector<uint64_t> offsets;
  auto payload = status.GetPayload(kWrittenOffsetsPayload);
  if (!payload) return offsets;
  for (absl::string_view part : absl::StrSplit(std::string(*payload), ',', absl::SkipEmpty())) {
    uint64_t offset = 0;
    if (absl::SimpleAtoi(part, &offset)) offsets.push_back(offset);
  }
  return offsets;
}

std::optional<std::string> NotLeaderAddress(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return std::nullopt;
  auto payload = status.GetPayload(kNotLeaderPayload);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Open(Options options) {
  if (options.addresses.empty()) {
    return absl::InvalidArgumentError("at least one server address is required");
  }
  if (options.call_timeout.count() < 0) {
    return absl::InvalidArgumentError("call_timeout must not be negative");
  }
  auto credentials = MakeCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  if (options.tls.enabled && !options.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls.server_name);
  }
  // A record the server accepted must fit in a reply: sized from the maximum
  // when it is configured; unlimited (-1) while it is only learned later, as
  // the server sends nothing larger than what it accepted.
  if (options.max_record_bytes > 0) {
    const uint64_t limit = options.max_record_bytes + kEnvelopeSlack;
    args.SetMaxReceiveMessageSize(limit > INT32_MAX ? -1 : static_cast<int>(limit));
  } else {
    args.SetMaxReceiveMessageSize(-1);
  }
  std::vector<Endpoint> endpoints;
  for (const std::string& address : options.addresses) {
    if (address.empty() || address.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("server address '", address, "' is not host:port"));
    }
    auto channel = grpc::CreateCustomChannel(address, *credentials, args);
    endpoints.push_back(Endpoint{address, std::make_shared<Log::Stub>(channel)});
  }
  return std::make_unique<ClientImpl>(std::move(options), std::move(endpoints));
}

}  // namespace proglog::client
