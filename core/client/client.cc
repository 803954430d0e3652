#include "core/client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/client/backoff.h"
#include "core/client/channel_pool.h"
#include "core/client/picker.h"
#include "core/client/status.h"
#include "core/client/subscription.h"
#include "core/telemetry/trace.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"
#include "log/v1/log.pb.h"
#include "proto/log/v1/batch_wire.h"

namespace proglog::client {
namespace {

using logpb::v1::Log;

// The size of one ProduceBatch request before the server's limit is known.
constexpr uint64_t kDefaultBatchBytes = 1 << 20;

// The longest a refresh waits for one server's GetServers answer, so that one
// unresponsive server does not use up a call's whole deadline.
constexpr absl::Duration kRefreshAttemptTimeout = absl::Seconds(2);

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

std::optional<std::string> LeaderFrom(const grpc::ClientContext& ctx) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kLeaderMetadataKey);
  if (it == trailers.end() || it->second.empty()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

// A server that answered "not the leader" (or that it lost the leadership
// mid-write) is alive; any other Unavailable means it could not be reached or
// went away.
bool ServerAnswered(const grpc::Status& status) {
  return absl::StrContains(status.error_message(), "not the leader") ||
         absl::StrContains(status.error_message(), "leadership moved");
}

absl::Time DeadlineOf(std::chrono::milliseconds timeout) {
  return timeout.count() > 0 ? absl::Now() + absl::FromChrono(timeout) : absl::InfiniteFuture();
}

// Waits until `until`; false if `cancel` (may be null) fired first.
bool SleepUntil(absl::Time until, Cancellation* cancel) {
  if (cancel != nullptr) return cancel->SleepUntil(until);
  absl::SleepFor(until - absl::Now());
  return true;
}

// How often a wait for a reconnection looks at the call's cancellation.
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(20);

// Waits until `until`, or less if `channel` connects first, while letting it
// reconnect: a blocking client's channel makes progress on a connection only
// while some thread waits on it (else gRPC's backup poller looks every 5 s),
// and an attempt on a channel still in backoff fails at once without trying.
// False if `cancel` (may be null) fired first.
bool AwaitReconnect(grpc::Channel& channel, absl::Time until, Cancellation* cancel) {
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (cancel != nullptr && cancel->IsCancelled()) return false;
    const absl::Time now = absl::Now();
    if (now >= until) return true;
    const absl::Time slice = std::min(until, now + kCancelCheckInterval);
    channel.WaitForStateChange(state, absl::ToChronoTime(slice));
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return true;
}

// Attaches a grpc::ClientContext to a call's Cancellation for its lifetime.
class AttachedContext {
 public:
  AttachedContext(grpc::ClientContext& ctx, Cancellation* cancel) : ctx_(ctx), cancel_(cancel) {
    if (cancel_ != nullptr && !cancel_->Attach(&ctx_)) ctx_.TryCancel();
  }
  ~AttachedContext() {
    if (cancel_ != nullptr) cancel_->Detach(&ctx_);
  }
  AttachedContext(const AttachedContext&) = delete;
  AttachedContext& operator=(const AttachedContext&) = delete;

 private:
  grpc::ClientContext& ctx_;
  Cancellation* cancel_;
};

// The W3C limit on a tracestate header's length that implementations must keep.
constexpr size_t kMaxTracestateChars = 512;

// InvalidArgument, naming the field, when the call's trace context could not
// be sent as it is (gRPC metadata values must be printable ASCII, too).
absl::Status ValidateTraceContext(const CallOptions& call) {
  if (!call.traceparent.empty() && !telemetry::ParseTraceparent(call.traceparent).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("traceparent \"", call.traceparent,
                     "\" is not a W3C traceparent (want 00-<32 hex>-<16 hex>-<2 hex>, ids not "
                     "all zero)"));
  }
  if (call.tracestate.empty()) return absl::OkStatus();
  if (call.traceparent.empty()) {
    return absl::InvalidArgumentError("tracestate is set without a traceparent");
  }
  const bool printable = std::all_of(call.tracestate.begin(), call.tracestate.end(),
                                     [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (!printable || call.tracestate.size() > kMaxTracestateChars) {
    return absl::InvalidArgumentError(absl::StrCat("tracestate must be printable ASCII of at most ",
                                                   kMaxTracestateChars, " characters"));
  }
  return absl::OkStatus();
}

void AddTraceContext(const CallOptions& call, grpc::ClientContext& ctx) {
  if (call.traceparent.empty()) return;
  ctx.AddMetadata("traceparent", call.traceparent);
  if (!call.tracestate.empty()) ctx.AddMetadata("tracestate", call.tracestate);
}

}  // namespace

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  // Which server a call goes to: the leader, or the policy's pick for reads.
  enum class Route { kWrite, kRead };

  Impl(Options options, std::unique_ptr<ChannelPool> pool)
      : options_(std::move(options)),
        pool_(std::move(pool)),
        picker_(options_.addresses, options_.policy) {}

  absl::StatusOr<uint64_t> Produce(std::string_view value, const CallOptions& call) {
    if (const uint64_t max = MaxRecordBytes(); max > 0 && value.size() > max) {
      return TooLarge(0, value.size(), max);
    }
    logpb::v1::ProduceRequest request;
    request.mutable_record()->set_value(value.data(), value.size());
    logpb::v1::ProduceResponse response;
    absl::Status status =
        Call(Route::kWrite, call, [&](const std::string& address, grpc::ClientContext& ctx) {
          return pool_->Stub(address)->Produce(&ctx, request, &response);
        });
    if (!status.ok()) return status;
    return response.offset();
  }

  absl::StatusOr<std::vector<uint64_t>> ProduceBatch(std::span<const std::string_view> values,
                                                     const CallOptions& call) {
    std::vector<uint64_t> offsets;
    if (values.empty()) return offsets;
    // All or nothing at validation: no value leaves before every one passed.
    if (absl::Status checked = CheckSizes(values, call); !checked.ok()) return checked;
    absl::Status status = batch_unsupported_.load() ? StreamBatchCall(values, call, offsets)
                                                    : BatchCalls(values, call, offsets);
    if (!status.ok()) {
      if (!offsets.empty()) {
        status = absl::Status(status.code(),
                              absl::StrCat(status.message(), " (after appending ", offsets.size(),
                                           " of ", values.size(), " records, at offsets ",
                                           offsets.front(), "..", offsets.back(), ")"));
        MarkWrittenOffsets(status, offsets);
      }
      return status;
    }
    return offsets;
  }

  absl::StatusOr<Record> Consume(uint64_t offset, const CallOptions& call) {
    logpb::v1::ConsumeRequest request;
    request.set_offset(offset);
    logpb::v1::ConsumeResponse response;
    absl::Status status =
        Call(Route::kRead, call, [&](const std::string& address, grpc::ClientContext& ctx) {
          return pool_->Stub(address)->Consume(&ctx, request, &response);
        });
    if (!status.ok()) return status;
    return ToRecord(response.record());
  }

  // `route` kRead: the policy's pick; kWrite: the leader.
  absl::StatusOr<std::unique_ptr<ResumingSubscription>> Subscribe(uint64_t offset,
                                                                  Route route = Route::kRead) {
    if (closed_.load()) return absl::FailedPreconditionError("client is closed");
    return std::make_unique<ResumingSubscription>(StreamSourceForSubscriptions(route), offset,
                                                  subscriptions_);
  }

  absl::StatusOr<uint64_t> ConsumeToEnd(uint64_t offset, uint64_t max_records,
                                        const std::function<void(const Record&)>& each) {
    auto stream = Subscribe(offset);
    if (!stream.ok()) return stream.status();
    absl::StatusOr<std::optional<uint64_t>> end =
        (*stream)->EndOffset(DeadlineOf(options_.call_timeout));
    if (!end.ok()) return end.status();
    if (end->has_value() && **end <= offset && options_.policy == BalancePolicy::kFollowerReads) {
      // Nothing there on a follower: it may lag the leader, whose end settles it.
      (*stream)->Cancel();
      stream = Subscribe(offset, Route::kWrite);
      if (!stream.ok()) return stream.status();
      end = (*stream)->EndOffset(DeadlineOf(options_.call_timeout));
      if (!end.ok()) return end.status();
    }
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

  absl::StatusOr<std::vector<Server>> GetServers(const CallOptions& call) {
    logpb::v1::GetServersResponse response;
    absl::Status status =
        Call(Route::kRead, call, [&](const std::string& address, grpc::ClientContext& ctx) {
          return pool_->Stub(address)->GetServers(&ctx, logpb::v1::GetServersRequest(), &response);
        });
    if (!status.ok()) return status;
    std::vector<Server> servers = ToServers(response);
    picker_.Update(servers, absl::Now());
    return servers;
  }

  const std::vector<std::string>& Addresses() const { return options_.addresses; }

  void Close() {
    closed_.store(true);
    subscriptions_->CloseAll();
    pool_->Close();
  }

 private:
  // One try of a call on the server at `address`.
  using Attempt = std::function<grpc::Status(const std::string& address, grpc::ClientContext&)>;

  static std::vector<Server> ToServers(const logpb::v1::GetServersResponse& response) {
    std::vector<Server> servers;
    for (const auto& server : response.servers()) {
      servers.push_back(Server{server.id(), server.rpc_addr(), server.is_leader()});
    }
    return servers;
  }

  // The maximum record size configured or learned; 0 while unknown.
  uint64_t MaxRecordBytes() const {
    if (options_.max_record_bytes > 0) return options_.max_record_bytes;
    return learned_max_record_bytes_.load(std::memory_order_relaxed);
  }

  void LearnLimits(const grpc::ClientContext& ctx) {
    if (const uint64_t max = AnnouncedMaxRecordBytes(ctx.GetServerInitialMetadata()); max > 0) {
      learned_max_record_bytes_.store(max, std::memory_order_relaxed);
    }
  }

  absl::Time Deadline(const CallOptions& call) const {
    return DeadlineOf(call.timeout.value_or(options_.call_timeout));
  }

  // Runs `attempt` on the server the route picks until it succeeds, fails for
  // a reason another attempt would meet too, runs out of attempts or reaches
  // the deadline. Between attempts the view may be refreshed and the caller
  // waits out a backoff; a redirect to a named leader is followed at once.
  // `retry_safe`, if given, is cleared by an attempt that must not be
  // repeated (a batch part of which was appended).
  absl::Status Call(Route route, const CallOptions& call, const Attempt& attempt,
                    const bool* retry_safe = nullptr) {
    if (closed_.load()) return absl::FailedPreconditionError("client is closed");
    if (absl::Status valid = ValidateTraceContext(call); !valid.ok()) return valid;
    const absl::Time deadline = Deadline(call);
    Cancellation* cancel = call.cancel.get();
    absl::Duration backoff;
    bool outcome_unknown = false;
    absl::Status last;
    for (int n = 0; n < options_.retry.max_attempts; ++n) {
      if (cancel != nullptr && cancel->IsCancelled()) {
        last = absl::CancelledError("the call was cancelled");
        break;
      }
      RefreshIfDue(deadline, cancel);
      const std::string address = route == Route::kWrite ? picker_.ForWrite() : picker_.ForRead();
      grpc::ClientContext ctx;
      if (deadline != absl::InfiniteFuture()) ctx.set_deadline(absl::ToChronoTime(deadline));
      AddTraceContext(call, ctx);
      grpc::Status status;
      {
        AttachedContext attached(ctx, cancel);
        status = attempt(address, ctx);
      }
      LearnLimits(ctx);
      if (status.ok()) return absl::OkStatus();
      last = FromGrpc(status, security_);
      if (route == Route::kWrite && !CertainlyNotApplied(status)) outcome_unknown = true;
      if (!IsRetryable(last) || (retry_safe != nullptr && !*retry_safe)) break;
      const bool answered = ServerAnswered(status);
      if (std::optional<std::string> leader = LeaderFrom(ctx)) {
        MarkNotLeader(last, *leader);
        if (options_.policy == BalancePolicy::kPinned) break;           // reported, not followed
        if (picker_.LeaderIs(*leader) && *leader != address) continue;  // follow it at once
      } else if (answered) {
        picker_.Invalidate();
      } else {
        picker_.Failed(address);
      }
      const absl::Time resume = absl::Now() + NextBackoff(backoff, options_.retry);
      if (resume >= deadline) break;
      const bool waited = answered ? SleepUntil(resume, cancel)
                                   : AwaitReconnect(*pool_->Channel(address), resume, cancel);
      if (!waited) {
        last = absl::CancelledError("the call was cancelled");
        break;
      }
    }
    if (outcome_unknown && (retry_safe == nullptr || *retry_safe)) MarkOutcomeUnknown(last);
    return last;
  }

  // Asks GetServers of the known servers in turn when the view is due for a
  // refresh. One refresh runs at a time; callers that waited for it use its
  // result rather than asking again.
  void RefreshIfDue(absl::Time deadline, Cancellation* cancel) {
    const absl::Duration interval = absl::FromChrono(options_.refresh_interval);
    if (!picker_.NeedsRefresh(absl::Now(), interval)) return;
    const uint64_t seen = refreshes_.load();
    absl::MutexLock lock(&refresh_mu_);
    if (refreshes_.load() != seen || !picker_.NeedsRefresh(absl::Now(), interval)) return;
    std::vector<Server> servers;
    for (const std::string& address : picker_.RefreshOrder()) {
      if (cancel != nullptr && cancel->IsCancelled()) return;
      grpc::ClientContext ctx;
      ctx.set_deadline(
          absl::ToChronoTime(std::min(deadline, absl::Now() + kRefreshAttemptTimeout)));
      logpb::v1::GetServersResponse response;
      grpc::Status status;
      {
        AttachedContext attached(ctx, cancel);
        status = pool_->Stub(address)->GetServers(&ctx, logpb::v1::GetServersRequest(), &response);
      }
      LearnLimits(ctx);
      if (status.ok()) {
        servers = ToServers(response);
        break;
      }
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) picker_.Failed(address);
    }
    picker_.Update(servers, absl::Now());
    refreshes_.fetch_add(1);
  }

  StreamSource StreamSourceForSubscriptions(Route route) {
    // The subscription keeps the client's state (and channels) alive: it may
    // outlive the Client, and its channels must not be released on a gRPC thread.
    std::shared_ptr<Impl> self = shared_from_this();
    StreamSource source;
    source.retry = options_.retry;
    source.open = [self, route](uint64_t offset) -> absl::StatusOr<std::unique_ptr<Stream>> {
      if (self->closed_.load()) return absl::FailedPreconditionError("client is closed");
      self->RefreshIfDue(DeadlineOf(self->options_.call_timeout), nullptr);
      const std::string address =
          route == Route::kWrite ? self->picker_.ForWrite() : self->picker_.ForRead();
      if (self->batch_unsupported_.load()) {
        return std::make_unique<Stream>(address, self->pool_->Stub(address), offset);
      }
      return std::make_unique<Stream>(address, self->pool_->BatchStub(address), offset);
    };
    source.batch_refused = [self] { self->batch_unsupported_.store(true); };
    source.failed = [self](const std::string& address) { self->picker_.Failed(address); };
    return source;
  }

  // ConsumeToEnd for a server that does not announce the end of its log.
  absl::StatusOr<uint64_t> ConsumeOneByOne(uint64_t offset, uint64_t max_records,
                                           const std::function<void(const Record&)>& each) {
    uint64_t read = 0;
    for (; max_records == 0 || read < max_records; ++read) {
      absl::StatusOr<Record> record = Consume(offset + read, CallOptions{});
      if (absl::IsOutOfRange(record.status())) break;  // the end of the log
      if (!record.ok()) return record.status();
      each(*record);
    }
    return read;
  }

  // Refuses the batch if any value is over the maximum record size, learning
  // the maximum from a server first when it is not known yet.
  absl::Status CheckSizes(std::span<const std::string_view> values, const CallOptions& call) {
    if (MaxRecordBytes() == 0) {
      // Any call brings the limit; GetServers is the cheapest. A server that
      // does not announce one leaves the check to the server.
      if (absl::StatusOr<std::vector<Server>> servers = GetServers(call); !servers.ok()) {
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

  // The values' share of one ProduceBatch request: as many as fit in the
  // server's batch limit (learned; kDefaultBatchBytes before it is known).
  size_t ChunkEnd(std::span<const std::string_view> values, size_t begin) const {
    const uint64_t learned = learned_max_batch_bytes_.load(std::memory_order_relaxed);
    const uint64_t limit = learned > 0 ? learned : kDefaultBatchBytes;
    uint64_t bytes = 0;
    size_t end = begin;
    // Each value costs a few bytes of framing besides its own.
    while (end < values.size() && (end == begin || bytes + values[end].size() + 16 <= limit)) {
      bytes += values[end].size() + 16;
      ++end;
    }
    return end;
  }

  // ProduceBatch over log.v1.Batch: one all-or-nothing request per chunk that
  // fits the server's batch limit. Falls back to the stream on a server that
  // lacks the service (an original or older server).
  absl::Status BatchCalls(std::span<const std::string_view> values, const CallOptions& call,
                          std::vector<uint64_t>& offsets) {
    for (size_t begin = 0; begin < values.size();) {
      const size_t end = ChunkEnd(values, begin);
      logpb::v1::ProduceBatchRequest request;
      for (size_t i = begin; i < end; ++i) request.add_values(values[i].data(), values[i].size());
      logpb::v1::ProduceBatchResponse response;
      absl::Status status =
          Call(Route::kWrite, call, [&](const std::string& address, grpc::ClientContext& ctx) {
            grpc::Status answer = pool_->BatchStub(address)->ProduceBatch(&ctx, request, &response);
            LearnBatchLimit(ctx);
            return answer;
          });
      if (absl::IsUnimplemented(status) && begin == 0) {
        batch_unsupported_.store(true);
        return StreamBatchCall(values, call, offsets);
      }
      if (!status.ok()) return status;
      if (response.count() != end - begin) {
        return absl::InternalError(absl::StrCat("server appended ", response.count(), " of ",
                                                end - begin, " records of a batch"));
      }
      for (size_t i = begin; i < end; ++i) offsets.push_back(response.base_offset() + (i - begin));
      begin = end;
    }
    return absl::OkStatus();
  }

  // ProduceBatch over one log.v1 ProduceStream (servers without log.v1.Batch).
  absl::Status StreamBatchCall(std::span<const std::string_view> values, const CallOptions& call,
                               std::vector<uint64_t>& offsets) {
    bool retry_safe = true;
    return Call(
        Route::kWrite, call,
        [&](const std::string& address, grpc::ClientContext& ctx) {
          offsets.clear();
          return StreamBatch(*pool_->Stub(address), ctx, values, offsets, retry_safe);
        },
        &retry_safe);
  }

  void LearnBatchLimit(const grpc::ClientContext& ctx) {
    const auto& metadata = ctx.GetServerInitialMetadata();
    auto it = metadata.find(wire::kMaxBatchBytesMetadataKey);
    uint64_t max = 0;
    if (it != metadata.end() &&
        absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &max) &&
        max > 0) {
      learned_max_batch_bytes_.store(max, std::memory_order_relaxed);
    }
  }

  static grpc::Status StreamBatch(Log::Stub& stub, grpc::ClientContext& ctx,
                                  std::span<const std::string_view> values,
                                  std::vector<uint64_t>& offsets, bool& retry_safe) {
    auto stream = stub.ProduceStream(&ctx);
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

  const Options options_;
  const ChannelSecurity security_{options_.tls.On(), !options_.tls.cert_file.empty()};
  const std::unique_ptr<ChannelPool> pool_;
  Picker picker_;
  std::atomic<bool> closed_{false};
  absl::Mutex refresh_mu_;
  std::atomic<uint64_t> refreshes_{0};
  const std::shared_ptr<SubscriptionRegistry> subscriptions_ =
      std::make_shared<SubscriptionRegistry>();
  std::atomic<uint64_t> learned_max_record_bytes_{0};
  std::atomic<uint64_t> learned_max_batch_bytes_{0};
  // Set once a server answered that it has no log.v1.Batch service.
  std::atomic<bool> batch_unsupported_{false};
};

absl::Status ValidateOptions(const Options& options) {
  if (options.addresses.empty()) {
    return absl::InvalidArgumentError("at least one server address is required");
  }
  for (const std::string& address : options.addresses) {
    if (address.empty() || address.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("server address '", address, "' is not host:port"));
    }
  }
  if (options.call_timeout.count() < 0) {
    return absl::InvalidArgumentError("call_timeout must not be negative");
  }
  if (options.refresh_interval.count() < 0) {
    return absl::InvalidArgumentError("refresh_interval must not be negative");
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("retry.max_attempts must be at least 1");
  }
  if (options.retry.initial_backoff.count() <= 0 ||
      options.retry.max_backoff < options.retry.initial_backoff) {
    return absl::InvalidArgumentError(
        "retry.initial_backoff must be positive and at most retry.max_backoff");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Client>> Client::Open(Options options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  auto pool = ChannelPool::Create(options);
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<Client>(
      new Client(std::make_shared<Impl>(std::move(options), *std::move(pool))));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() { Close(); }

absl::StatusOr<uint64_t> Client::Produce(std::string_view value, const CallOptions& call) {
  return impl_->Produce(value, call);
}
absl::StatusOr<std::vector<uint64_t>> Client::ProduceBatch(std::span<const std::string_view> values,
                                                           const CallOptions& call) {
  return impl_->ProduceBatch(values, call);
}
absl::StatusOr<Record> Client::Consume(uint64_t offset, const CallOptions& call) {
  return impl_->Consume(offset, call);
}
absl::StatusOr<uint64_t> Client::ConsumeToEnd(uint64_t offset, uint64_t max_records,
                                              const std::function<void(const Record&)>& each) {
  return impl_->ConsumeToEnd(offset, max_records, each);
}
absl::StatusOr<std::unique_ptr<Subscription>> Client::Subscribe(uint64_t offset) {
  auto subscription = impl_->Subscribe(offset);
  if (!subscription.ok()) return subscription.status();
  return std::unique_ptr<Subscription>(*std::move(subscription));
}
absl::StatusOr<std::vector<Server>> Client::GetServers(const CallOptions& call) {
  return impl_->GetServers(call);
}
const std::vector<std::string>& Client::Addresses() const { return impl_->Addresses(); }
void Client::Close() { impl_->Close(); }

}  // namespace proglog::client
