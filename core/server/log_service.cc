#include "core/server/log_service.h"

#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/server/malformed_requests.h"
#include "core/server/public_status.h"
#include "core/telemetry/metrics.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/security/auth_context.h"
#include "log/v1/batch.grpc.pb.h"
#include "proto/log/v1/wire.h"
#include "spdlog/spdlog.h"

namespace proglog::server {
namespace {

using logpb::v1::ConsumeRequest;
using logpb::v1::ConsumeResponse;
using logpb::v1::ProduceRequest;
using logpb::v1::ProduceResponse;

// A ConsumeStream reads ahead at most this much before writing.
constexpr size_t kReadAheadRecords = 64;
constexpr size_t kReadAheadBytes = 1 << 20;

void ToProto(Record record, logpb::v1::Record* out) {
  out->set_value(std::move(record.value));
  out->set_offset(record.offset);
  out->set_term(record.term);
  out->set_type(record.type);
}

std::string Subject(const grpc::CallbackServerContext* context) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (names.empty()) return "";
  return std::string(names.front().data(), names.front().size());
}

// ProduceStream: reads requests continuously (up to max_in_flight_per_stream
// unanswered and max_in_flight_bytes_per_stream not yet appended), hands each to the commit log,
// and writes the replies strictly in request order as their appends complete. The first failed
// request ends the stream with its status after the replies before it are written.
class ProduceStreamReactor final : public grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>,
                                   public StoppableStream,
                                   public std::enable_shared_from_this<ProduceStreamReactor> {
 public:
  explicit ProduceStreamReactor(LogService* service) : service_(service) {}

  // Keeps itself alive until OnDone; completions that arrive later hold a reference.
  void Begin(grpc::CallbackServerContext* context) {
    self_ = shared_from_this();
    context_ = context;
    call_ = telemetry::RpcCall(service_->Series().produce_stream);
    trace_ = service_->StartTrace(context, logpb::v1::Log::service_full_name(), "ProduceStream");
    telemetry::ScopedSpanContext scope(trace_ ? &trace_->Context() : nullptr);
    absl::Status admitted = service_->Admit(context, kProduceAction);
    if (admitted.ok() && !service_->Register(this, self_)) {
      admitted = absl::UnavailableError("server is shutting down");
    }
    absl::MutexLock lock(&mu_);
    if (!admitted.ok()) {
      FinishLocked(ToGrpcStatus(admitted));
      return;
    }
    StartSendInitialMetadata();  // the limits, before the first reply
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    telemetry::ScopedSpanContext scope(trace_ ? &trace_->Context() : nullptr);
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      read_closed_ = true;
      PumpLocked();
      return;
    }
    call_.Received();
    if (finished_ || failed_) return;
    slots_.emplace_back();
    const uint64_t seq = head_seq_ + slots_.size() - 1;
    absl::Status accepted = service_->ValidateValue(request_);
    if (accepted.ok()) {
      // Submitted under mu_: the next read cannot complete and overtake this one,
      // so the stream's offsets increase in request order.
      const size_t bytes = request_.record().value().size();
      logpb::v1::Record* record = request_.mutable_record();
      accepted = service_->Storage()->Append(
          NewRecord{std::move(*record->mutable_value()), record->type()},
          [self = shared_from_this(), seq, bytes](absl::StatusOr<uint64_t> offset) {
            self->OnAppended(seq, bytes, std::move(offset));
          });
      if (accepted.ok()) appending_bytes_ += bytes;
    }
    if (!accepted.ok()) {
      slots_.back().ready = true;
      slots_.back().status = std::move(accepted);
      failed_ = true;
      PumpLocked();
      return;
    }
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      // The client is gone; nothing more can be delivered.
      cancelled_ = true;
      PumpLocked();
      return;
    }
    slots_.pop_front();
    ++head_seq_;
    MaybeReadLocked();
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    PumpLocked();
  }

  void OnDone() override {
    std::shared_ptr<ProduceStreamReactor> keep = std::move(self_);
    service_->Unregister(this);
  }

  void StopForShutdown() override {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    PumpLocked();
  }

 private:
  struct Slot {
    bool ready = false;
    absl::Status status;
    ProduceResponse response;
  };

  void OnAppended(uint64_t seq, size_t bytes, absl::StatusOr<uint64_t> offset) {
    absl::MutexLock lock(&mu_);
    appending_bytes_ -= bytes;
    if (finished_) return;
    Slot& slot = slots_[seq - head_seq_];
    slot.ready = true;
    if (offset.ok()) {
      slot.response.set_offset(*offset);
    } else {
      slot.status = offset.status();
      failed_ = true;
    }
    MaybeReadLocked();
    PumpLocked();
  }

  // Starts the next read unless one is pending, the window (requests or bytes
  // waiting for the log) is full, or the stream is ending.
  void MaybeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || read_closed_ || finished_ || failed_ || stopping_ || cancelled_) return;
    const Options& options = service_->ServerOptions();
    if (slots_.size() >= static_cast<size_t>(options.max_in_flight_per_stream)) return;
    if (appending_bytes_ >= options.max_in_flight_bytes_per_stream) return;
    reading_ = true;
    StartRead(&request_);
  }

  // Writes the next reply if it is ready, or finishes the stream when its end
  // condition holds. Never finishes while a write is in flight.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || write_in_flight_) return;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      return;
    }
    if (!slots_.empty() && slots_.front().ready) {
      Slot& head = slots_.front();
      if (!head.status.ok()) {
        FinishLocked(FinishingStatus(context_, head.status));
        return;
      }
      write_in_flight_ = true;
      call_.Sent();
      // Replies that are ready together (a group commit answers many) go out
      // in one flush: every one but the last is written with the buffer hint.
      const bool more_ready = slots_.size() > 1 && slots_[1].ready;
      StartWrite(&head.response,
                 more_ready ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
      return;
    }
    if (!slots_.empty()) return;  // Waiting for an append.
    if (read_closed_) {
      FinishLocked(grpc::Status::OK);
    } else if (stopping_) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    }
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    if (trace_ != nullptr) {
      trace_->SetAttribute("proglog.records_appended", static_cast<int64_t>(head_seq_));
      trace_->Finish(status);
    }
    call_.Finish(static_cast<int>(status.error_code()));
    Finish(std::move(status));
  }

  LogService* const service_;
  std::shared_ptr<ProduceStreamReactor> self_;
  telemetry::RpcCall call_;  // set in Begin
  // One span for the whole stream (null without a tracer).
  std::shared_ptr<RpcTrace> trace_;
  grpc::CallbackServerContext* context_ = nullptr;  // Valid until OnDone.
  ProduceRequest request_;                          // Owned by gRPC while reading_.
  absl::Mutex mu_;
  // Replies not yet written; slots_[i] answers request number head_seq_ + i.
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t head_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Value bytes handed to the commit log and not yet appended.
  uint64_t appending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// ConsumeStream: a read task on the executor fills a small buffer from the commit
// log; the reactor writes it out one message at a time. When the task finds
// nothing new it registers CommitLog::WaitForOffset, whose callback schedules the
// next read. At most one read task or wait exists at a time (`fetching_`).
// CommitLog methods are never called with mu_ held, so the commit log may call
// back into us under its own locks.
class ConsumeStreamReactor final : public grpc::ServerWriteReactor<ConsumeResponse>,
                                   public StoppableStream,
                                   public std::enable_shared_from_this<ConsumeStreamReactor> {
 public:
  ConsumeStreamReactor(LogService* service, uint64_t offset)
      : service_(service), next_offset_(offset) {}

  void Begin(grpc::CallbackServerContext* context) {
    self_ = shared_from_this();
    call_ = telemetry::RpcCall(service_->Series().consume_stream);
    call_.Received();
    trace_ = service_->StartTrace(context, logpb::v1::Log::service_full_name(), "ConsumeStream");
    telemetry::ScopedSpanContext scope(trace_ ? &trace_->Context() : nullptr);
    absl::Status admitted = service_->Admit(context, kConsumeAction);
    if (admitted.ok() && !service_->Register(this, self_)) {
      admitted = absl::UnavailableError("server is shutting down");
    }
    absl::MutexLock lock(&mu_);
    if (!admitted.ok()) {
      FinishLocked(ToGrpcStatus(admitted));
      return;
    }
    // The end offset, at once: a reader that stops at the end may be at it already.
    StartSendInitialMetadata();
    FetchLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      cancelled_ = true;
    } else {
      buffer_.pop_front();
      ++records_sent_;
    }
    PumpLocked();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    DropWait();
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }

  void OnDone() override {
    std::shared_ptr<ConsumeStreamReactor> keep = std::move(self_);
    service_->Unregister(this);
  }

  void StopForShutdown() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    DropWait();
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }

 private:
  // Schedules a read task unless one (or a wait) is already pending.
  void FetchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (fetching_ || finished_ || stopping_ || cancelled_) return;
    fetching_ = true;
    if (!service_->Reads()->Post([self = shared_from_this()] { self->Fetch(); })) {
      fetching_ = false;
      stopping_ = true;
    }
  }

  // Runs on the executor: reads what is there, or waits for the next offset.
  void Fetch() {
    uint64_t from;
    uint64_t generation = 0;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || stopping_ || cancelled_) {
        fetching_ = false;
        PumpLocked();
        return;
      }
      from = next_offset_;
    }
    CommitLog* log = service_->Storage();
    std::vector<Record> got;
    absl::Status error;
    const uint64_t lowest = log->LowestOffset();
    const uint64_t end = log->NextOffset();
    if (from < lowest) {
      error = absl::OutOfRangeError(
          absl::StrCat("offset ", from, " was removed; the lowest kept offset is ", lowest));
    } else if (from < end) {
      absl::StatusOr<std::vector<Record>> records =
          log->ReadRange(from, kReadAheadRecords, kReadAheadBytes);
      if (records.ok()) {
        got = *std::move(records);
      } else {
        error = records.status();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      if (!got.empty() || !error.ok() || finished_ || stopping_ || cancelled_) {
        fetching_ = false;
        next_offset_ += got.size();
        for (auto& record : got) buffer_.push_back(std::move(record));
        if (got.empty() && !error.ok()) pending_error_ = service_->ReadStatus(error);
        PumpLocked();
        return;
      }
      waiting_ = true;  // fetching_ stays true: the wait is the pending fetch.
      generation = ++wait_generation_;
    }
    const uint64_t id = log->WaitForOffset(
        from, [self = shared_from_this(), generation] { self->OnOffsetReady(generation); });
    bool drop = false;
    {
      absl::MutexLock lock(&mu_);
      // If the wait already fired (perhaps inline), a later fetch may own the
      // current wait; the generation tells them apart.
      if (waiting_ && wait_generation_ == generation) {
        wait_id_ = id;
        // A stop that raced with the registration could not cancel it.
        drop = stopping_ || cancelled_;
      }
    }
    if (drop) DropWait();
  }

  // Called by the commit log (possibly inline in WaitForOffset); must not block.
  void OnOffsetReady(uint64_t generation) {
    absl::MutexLock lock(&mu_);
    if (!waiting_ || wait_generation_ != generation) return;
    waiting_ = false;
    wait_id_.reset();
    fetching_ = false;
    FetchLocked();
    PumpLocked();
  }

  // Cancels a registered wait so the stream can end without a new record.
  void DropWait() {
    std::optional<uint64_t> id;
    {
      absl::MutexLock lock(&mu_);
      id = wait_id_;
    }
    if (!id.has_value() || !service_->Storage()->CancelWait(*id)) return;
    absl::MutexLock lock(&mu_);
    if (waiting_ && wait_id_ == id) {
      waiting_ = false;
      wait_id_.reset();
      fetching_ = false;
    }
  }

  // Writes the next buffered record, refills, or finishes when the stream's end
  // condition holds. Never finishes while a write is in flight.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || write_in_flight_) return;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      return;
    }
    if (!buffer_.empty()) {
      response_.Clear();
      ToProto(std::move(buffer_.front()), response_.mutable_record());
      write_in_flight_ = true;
      call_.Sent();
      // Records read together go out in one flush (gRPC still sends whenever
      // its write buffer fills): all but the last carry the buffer hint.
      StartWrite(&response_, buffer_.size() > 1 ? grpc::WriteOptions().set_buffer_hint()
                                                : grpc::WriteOptions());
      // Read the next batch while this one is being sent.
      if (buffer_.size() <= 1) FetchLocked();
      return;
    }
    if (pending_error_.has_value()) {
      FinishLocked(*pending_error_);
    } else if (stopping_) {
      FinishLocked(grpc::Status::OK);
    } else {
      FetchLocked();
    }
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    if (trace_ != nullptr) {
      trace_->SetAttribute("proglog.records_sent", static_cast<int64_t>(records_sent_));
      trace_->Finish(status);
    }
    call_.Finish(static_cast<int>(status.error_code()));
    Finish(std::move(status));
  }

  LogService* const service_;
  std::shared_ptr<ConsumeStreamReactor> self_;
  telemetry::RpcCall call_;  // set in Begin
  // One span for the whole stream (null without a tracer).
  std::shared_ptr<RpcTrace> trace_;
  uint64_t records_sent_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex mu_;
  uint64_t next_offset_ ABSL_GUARDED_BY(mu_);
  std::deque<Record> buffer_ ABSL_GUARDED_BY(mu_);
  ConsumeResponse response_ ABSL_GUARDED_BY(mu_);  // Owned by gRPC while write_in_flight_.
  std::optional<grpc::Status> pending_error_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> wait_id_ ABSL_GUARDED_BY(mu_);
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wait_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

namespace {

MethodSeries DeclareMethods(telemetry::RpcServerMetrics* metrics) {
  const char* log = logpb::v1::Log::service_full_name();
  const char* batch = logpb::v1::Batch::service_full_name();
  MethodSeries series;
  series.produce = metrics->AddMethod(log, "Produce", telemetry::kRpcUnary);
  series.consume = metrics->AddMethod(log, "Consume", telemetry::kRpcUnary);
  series.consume_stream = metrics->AddMethod(log, "ConsumeStream", telemetry::kRpcServerStream);
  series.produce_stream = metrics->AddMethod(log, "ProduceStream", telemetry::kRpcBidiStream);
  series.get_servers = metrics->AddMethod(log, "GetServers", telemetry::kRpcUnary);
  series.produce_batch = metrics->AddMethod(batch, "ProduceBatch", telemetry::kRpcUnary);
  series.consume_batch = metrics->AddMethod(batch, "ConsumeBatch", telemetry::kRpcUnary);
  series.consume_batch_stream =
      metrics->AddMethod(batch, "ConsumeBatchStream", telemetry::kRpcServerStream);
  return series;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& internal_status) {
  if (internal_status.ok()) return grpc::Status::OK;
  const absl::Status status = WithoutServerPaths(internal_status);
  if (absl::IsFailedPrecondition(status)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(status.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status FinishingStatus(grpc::CallbackServerContext* context, const absl::Status& status) {
  if (std::optional<std::string> leader = LeaderAddressOf(status); leader.has_value()) {
    context->AddTrailingMetadata(wire::kLeaderMetadataKey, *leader);
  }
  return ToGrpcStatus(status);
}

LogService::LogService(CommitLog* log, Executor* reads, const Options* options)
    : log_(log), reads_(reads), options_(options) {
  if (options->metrics != nullptr) {
    rpc_metrics_ = std::make_unique<telemetry::RpcServerMetrics>(options->metrics);
    series_ = DeclareMethods(rpc_metrics_.get());
    if (options->authorizer) {
      constexpr char kName[] = "proglog_acl_refusals_total";
      constexpr char kHelp[] = "Requests the ACL refused, by reason.";
      acl_refusals_.unauthenticated =
          options->metrics->GetCounter(kName, kHelp, {{"reason", "unauthenticated"}});
      acl_refusals_.denied =
          options->metrics->GetCounter(kName, kHelp, {{"reason", "permission_denied"}});
    }
  }
  // A body that does not parse gets INVALID_ARGUMENT, not gRPC's bare
  // UNIMPLEMENTED (core/server/malformed_requests.h). Indexes are the methods'
  // order in log.proto, as the generated base classes number them.
  using internal::CheckedServerStreamingHandler;
  using internal::CheckedUnaryHandler;
  MarkMethodCallback(0, new CheckedUnaryHandler<ProduceRequest, ProduceResponse>(
                            [this](auto* context, auto* request, auto* response) {
                              return Produce(context, request, response);
                            },
                            series_.produce));
  MarkMethodCallback(1, new CheckedUnaryHandler<ConsumeRequest, ConsumeResponse>(
                            [this](auto* context, auto* request, auto* response) {
                              return Consume(context, request, response);
                            },
                            series_.consume));
  MarkMethodCallback(
      2, new CheckedServerStreamingHandler<ConsumeRequest, ConsumeResponse>(
             [this](auto* context, auto* request) { return ConsumeStream(context, request); },
             series_.consume_stream));
  MarkMethodCallback(
      4, new CheckedUnaryHandler<logpb::v1::GetServersRequest, logpb::v1::GetServersResponse>(
             [this](auto* context, auto* request, auto* response) {
               return GetServers(context, request, response);
             },
             series_.get_servers));
}

grpc::Status LogService::ReadStatus(const absl::Status& status) const {
  if (!absl::IsOutOfRange(status)) return ToGrpcStatus(status);
  const int code = options_->compat_original_codes
                       ? kOriginalOutOfRangeCode
                       : static_cast<int>(grpc::StatusCode::OUT_OF_RANGE);
  const std::string message(status.message());
  google::rpc::LocalizedMessage localized;
  localized.set_locale("en-US");
  localized.set_message(message);
  google::rpc::Status details;
  details.set_code(code);
  details.set_message(message);
  details.add_details()->PackFrom(localized);
  return grpc::Status(static_cast<grpc::StatusCode>(code), message, details.SerializeAsString());
}

void LogService::AnnounceLimits(grpc::CallbackServerContext* context) const {
  context->AddInitialMetadata(wire::kMaxRecordBytesMetadataKey,
                              std::to_string(options_->max_record_bytes));
}

absl::Status LogService::ValidateValue(const ProduceRequest& request) const {
  if (!request.has_record()) return absl::InvalidArgumentError("produce request has no record");
  const std::string& value = request.record().value();
  if (value.size() > options_->max_record_bytes) {
    // The code gRPC itself gives a message over the transport limit, so a record
    // too large gets one code however large it is.
    return absl::ResourceExhaustedError(absl::StrCat("message too large: record value is ",
                                                     value.size(), " bytes; the maximum is ",
                                                     options_->max_record_bytes));
  }
  return absl::OkStatus();
}

absl::Status LogService::Admit(grpc::CallbackServerContext* context,
                               std::string_view action) const {
  if (closing_.load()) return absl::UnavailableError("server is shutting down");
  if (!options_->authorizer) return absl::OkStatus();
  absl::Status admitted = options_->authorizer(Subject(context), action);
  if (!admitted.ok() && acl_refusals_.denied != nullptr) {
    (absl::IsUnauthenticated(admitted) ? acl_refusals_.unauthenticated : acl_refusals_.denied)
        ->Increment();
  }
  return admitted;
}

bool LogService::Register(const void* key, std::shared_ptr<StoppableStream> stream) {
  absl::MutexLock lock(&mu_);
  if (closing_.load()) return false;
  streams_.emplace(key, std::move(stream));
  return true;
}

void LogService::Unregister(const void* key) {
  absl::MutexLock lock(&mu_);
  streams_.erase(key);
}

void LogService::BeginShutdown() {
  std::vector<std::shared_ptr<StoppableStream>> open;
  {
    absl::MutexLock lock(&mu_);
    closing_.store(true);
    for (auto& [key, stream] : streams_) open.push_back(stream);
  }
  for (auto& stream : open) stream->StopForShutdown();
}

grpc::ServerUnaryReactor* LogService::Produce(grpc::CallbackServerContext* context,
                                              const ProduceRequest* request,
                                              ProduceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const telemetry::RpcCall call(series_.produce);
  call.Received();
  AnnounceLimits(context);
  std::shared_ptr<RpcTrace> trace = StartTrace(context, "Produce");
  telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
  absl::Status admitted = Admit(context, kProduceAction);
  if (admitted.ok()) admitted = ValidateValue(*request);
  if (!admitted.ok()) {
    FinishRpc(reactor, call, trace.get(), "Produce", ToGrpcStatus(admitted));
    return reactor;
  }
  // The commit span covers the commit log's work: the Raft commit when
  // replicated, the group commit's write and fsync when local.
  std::shared_ptr<telemetry::Span> commit;
  if (trace != nullptr) commit = trace->StartChild("commit");
  // The request is const; its value is copied once into the commit log.
  absl::Status queued = log_->Append(
      NewRecord{request->record().value(), request->record().type()},
      [context, reactor, response, call, trace, commit](absl::StatusOr<uint64_t> offset) {
        telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
        if (commit != nullptr) {
          if (!offset.ok()) commit->SetError(std::string(offset.status().message()));
          if (offset.ok()) trace->RecordFsync(*commit);
          commit->End();
        }
        if (offset.ok()) response->set_offset(*offset);
        FinishRpc(reactor, call, trace.get(), "Produce", FinishingStatus(context, offset.status()));
      });
  if (!queued.ok())
    FinishRpc(reactor, call, trace.get(), "Produce", FinishingStatus(context, queued));
  return reactor;
}

grpc::ServerUnaryReactor* LogService::Consume(grpc::CallbackServerContext* context,
                                              const ConsumeRequest* request,
                                              ConsumeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const telemetry::RpcCall call(series_.consume);
  call.Received();
  AnnounceLimits(context);
  std::shared_ptr<RpcTrace> trace = StartTrace(context, "Consume");
  telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
  absl::Status admitted = Admit(context, kConsumeAction);
  if (!admitted.ok()) {
    FinishRpc(reactor, call, trace.get(), "Consume", ToGrpcStatus(admitted));
    return reactor;
  }
  const uint64_t offset = request->offset();
  const bool posted = reads_->Post([this, reactor, response, offset, call, trace] {
    telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
    ReadConfirmingEnd(
        offset,
        [this, offset, response] {
          absl::StatusOr<Record> record = log_->Read(offset);
          if (record.ok()) ToProto(*std::move(record), response->mutable_record());
          return record.status();
        },
        [this, reactor, call, trace](const absl::Status& status) {
          FinishRpc(reactor, call, trace.get(), "Consume", ReadStatus(status));
        });
  });
  if (!posted) {
    FinishRpc(reactor, call, trace.get(), "Consume",
              grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
  return reactor;
}

namespace {

// A read whose end of the log is being confirmed: it runs again afterwards.
struct ReadAfterConfirm {
  absl::AnyInvocable<absl::Status()> read;
  absl::AnyInvocable<void(absl::Status)> done;
};

}  // namespace

void LogService::ReadConfirmingEnd(uint64_t offset, absl::AnyInvocable<absl::Status()> read,
                                   absl::AnyInvocable<void(absl::Status)> done) {
  const absl::Status status = read();
  // Found, another error, or below the lowest offset kept (retention): this
  // node's answer holds whatever the rest of the cluster has.
  if (!absl::IsOutOfRange(status) || offset < log_->LowestOffset()) {
    done(status);
    return;
  }
  auto pending =
      std::make_shared<ReadAfterConfirm>(ReadAfterConfirm{std::move(read), std::move(done)});
  log_->ConfirmEnd([this, pending](absl::Status confirmed) {
    if (!confirmed.ok()) {
      pending->done(confirmed);
      return;
    }
    // The confirmation may come on the Raft driver thread: read on a read thread.
    if (!reads_->Post([pending] { pending->done(pending->read()); })) {
      pending->done(absl::UnavailableError("server is shutting down"));
    }
  });
}

std::shared_ptr<RpcTrace> LogService::StartTrace(const grpc::CallbackServerContext* context,
                                                 const char* service, const char* method) const {
  return RpcTrace::Start(options_->tracer, context, service, method);
}

void LogService::FinishRpc(grpc::ServerUnaryReactor* reactor, const telemetry::RpcCall& call,
                           RpcTrace* trace, const char* method, const grpc::Status& status) {
  if (!status.ok()) {
    // Debug level: failures are the client's to see; with a trace current on this
    // thread the line carries its ids, so an operator can follow one request.
    spdlog::debug("{} failed: code {}: {}", method, static_cast<int>(status.error_code()),
                  status.error_message());
  }
  if (trace != nullptr) trace->Finish(status);
  // A unary RPC sends its response only with OK.
  if (status.ok()) call.Sent();
  call.Finish(static_cast<int>(status.error_code()));
  reactor->Finish(status);
}

grpc::ServerWriteReactor<ConsumeResponse>* LogService::ConsumeStream(
    grpc::CallbackServerContext* context, const ConsumeRequest* request) {
  AnnounceLimits(context);
  context->AddInitialMetadata(wire::kEndOffsetMetadataKey, std::to_string(log_->NextOffset()));
  auto reactor = std::make_shared<ConsumeStreamReactor>(this, request->offset());
  reactor->Begin(context);
  return reactor.get();
}

grpc::ServerBidiReactor<ProduceRequest, ProduceResponse>* LogService::ProduceStream(
    grpc::CallbackServerContext* context) {
  AnnounceLimits(context);
  auto reactor = std::make_shared<ProduceStreamReactor>(this);
  reactor->Begin(context);
  return reactor.get();
}

grpc::ServerUnaryReactor* LogService::GetServers(grpc::CallbackServerContext* context,
                                                 const logpb::v1::GetServersRequest* /*request*/,
                                                 logpb::v1::GetServersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const telemetry::RpcCall call(series_.get_servers);
  call.Received();
  AnnounceLimits(context);
  std::shared_ptr<RpcTrace> trace = StartTrace(context, "GetServers");
  telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
  std::vector<ServerInfo> servers = log_->Servers();
  if (servers.empty()) servers.push_back(ServerInfo{options_->node_id, self_address_, true});
  for (const ServerInfo& info : servers) {
    logpb::v1::Server* server = response->add_servers();
    server->set_id(info.id);
    server->set_rpc_addr(info.rpc_addr);
    server->set_is_leader(info.is_leader);
  }
  FinishRpc(reactor, call, trace.get(), "GetServers", grpc::Status::OK);
  return reactor;
}

}  // namespace proglog::server
