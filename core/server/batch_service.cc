#include "core/server/batch_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/server/malformed_requests.h"
#include "proto/log/v1/batch_wire.h"
#include "proto/log/v1/wire.h"

namespace proglog::server {
namespace {

using logpb::v1::ConsumeBatchRequest;
using logpb::v1::ConsumeBatchResponse;
using logpb::v1::ProduceBatchRequest;
using logpb::v1::ProduceBatchResponse;

constexpr char kService[] = "log.v1.Batch";

// The reply bounds a request asks for, the defaults standing in for zeros.
struct ReadBounds {
  size_t records;
  size_t bytes;
};

ReadBounds BoundsOf(const ConsumeBatchRequest& request) {
  return ReadBounds{
      request.max_records() == 0 ? wire::kDefaultConsumeBatchRecords : request.max_records(),
      request.max_bytes() == 0 ? wire::kDefaultConsumeBatchBytes
                               : static_cast<size_t>(request.max_bytes())};
}

// Moves `records` (consecutive, from the first one's offset) into `out`. Types
// travel only when one is not 0 (batch.proto), so untyped records cost nothing.
void FillResponse(std::vector<Record> records, uint64_t end_offset, ConsumeBatchResponse* out) {
  out->set_base_offset(records.front().offset);
  out->set_end_offset(end_offset);
  out->mutable_values()->Reserve(static_cast<int>(records.size()));
  const bool typed = std::any_of(records.begin(), records.end(),
                                 [](const Record& record) { return record.type != 0; });
  if (typed) out->mutable_types()->Reserve(static_cast<int>(records.size()));
  for (Record& record : records) {
    *out->add_values() = std::move(record.value);
    if (typed) out->add_types(record.type);
  }
}

// Reads one reply's worth from `from`; OUT_OF_RANGE outside the log, as ReadRange.
absl::Status ReadBatch(CommitLog* log, uint64_t from, ReadBounds bounds,
                       ConsumeBatchResponse* out) {
  // The end is read first: every record returned is below it or was committed
  // after it was read, so a reader comparing offsets with it never stops early.
  const uint64_t end = log->NextOffset();
  absl::StatusOr<std::vector<Record>> records = log->ReadRange(from, bounds.records, bounds.bytes);
  if (!records.ok()) return records.status();
  FillResponse(*std::move(records), std::max(end, from + 1), out);
  return absl::OkStatus();
}

// ConsumeBatchStream: a read task on the executor reads one message's worth of
// records; the reactor writes it while the next one is read (one message being
// written, at most one ready). When caught up, the task registers
// CommitLog::WaitForOffset, whose callback schedules the next read (no polling).
// CommitLog methods are never called with mu_ held.
class ConsumeBatchStreamReactor final
    : public grpc::ServerWriteReactor<ConsumeBatchResponse>,
      public StoppableStream,
      public std::enable_shared_from_this<ConsumeBatchStreamReactor> {
 public:
  ConsumeBatchStreamReactor(LogService* service, uint64_t offset, ReadBounds bounds)
      : service_(service), bounds_(bounds), next_offset_(offset) {}

  void Begin(grpc::CallbackServerContext* context) {
    self_ = shared_from_this();
    call_ = telemetry::RpcCall(service_->Series().consume_batch_stream);
    call_.Received();
    absl::Status admitted = service_->Admit(context, kConsumeAction);
    if (admitted.ok() && !service_->Register(this, self_)) {
      admitted = absl::UnavailableError("server is shutting down");
    }
    absl::MutexLock lock(&mu_);
    if (!admitted.ok()) {
      FinishLocked(ToGrpcStatus(admitted));
      return;
    }
    StartSendInitialMetadata();
    FetchLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) cancelled_ = true;
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
    std::shared_ptr<ConsumeBatchStreamReactor> keep = std::move(self_);
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
  bool EndingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return finished_ || stopping_ || cancelled_;
  }

  // Schedules a read task unless one (or a wait) is pending, a message is
  // already ready, or the stream is ending.
  void FetchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (fetching_ || ready_.has_value() || pending_error_.has_value() || EndingLocked()) return;
    fetching_ = true;
    if (!service_->Reads()->Post([self = shared_from_this()] { self->Fetch(); })) {
      fetching_ = false;
      stopping_ = true;
    }
  }

  // Runs on the executor: reads what is there, or waits for the next offset.
  void Fetch() {
    uint64_t from;
    {
      absl::MutexLock lock(&mu_);
      if (EndingLocked()) {
        fetching_ = false;
        PumpLocked();
        return;
      }
      from = next_offset_;
    }
    CommitLog* log = service_->Storage();
    ConsumeBatchResponse got;
    absl::Status error;
    const uint64_t lowest = log->LowestOffset();
    const bool caught_up = from >= log->NextOffset() && from >= lowest;
    if (from < lowest) {
      error = absl::OutOfRangeError(
          absl::StrCat("offset ", from, " was removed; the lowest kept offset is ", lowest));
    } else if (!caught_up) {
      error = ReadBatch(log, from, bounds_, &got);
    }
    uint64_t generation = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!caught_up || EndingLocked()) {
        fetching_ = false;
        if (!error.ok()) {
          pending_error_ = service_->ReadStatus(error);
        } else if (got.values_size() > 0) {
          next_offset_ += got.values_size();
          ready_ = std::move(got);
        }
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
      // If the wait already fired (perhaps inline), the generation tells it apart
      // from a later fetch's wait.
      if (waiting_ && wait_generation_ == generation) {
        wait_id_ = id;
        drop = stopping_ || cancelled_;  // a stop raced with the registration
      }
    }
    if (drop) DropWait();
  }

  void OnOffsetReady(uint64_t generation) {
    absl::MutexLock lock(&mu_);
    if (!waiting_ || wait_generation_ != generation) return;
    waiting_ = false;
    wait_id_.reset();
    fetching_ = false;
    FetchLocked();
    PumpLocked();
  }

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

  // Writes the ready message and reads the next one meanwhile, or finishes
  // when the stream's end condition holds. Never finishes while writing.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || write_in_flight_) return;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      return;
    }
    if (ready_.has_value()) {
      writing_ = *std::move(ready_);
      ready_.reset();
      write_in_flight_ = true;
      call_.Sent();
      StartWrite(&writing_);
      FetchLocked();
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
    call_.Finish(static_cast<int>(status.error_code()));
    Finish(std::move(status));
  }

  LogService* const service_;
  telemetry::RpcCall call_;  // set in Begin
  const ReadBounds bounds_;
  std::shared_ptr<ConsumeBatchStreamReactor> self_;
  absl::Mutex mu_;
  uint64_t next_offset_ ABSL_GUARDED_BY(mu_);
  std::optional<ConsumeBatchResponse> ready_ ABSL_GUARDED_BY(mu_);
  ConsumeBatchResponse writing_ ABSL_GUARDED_BY(mu_);  // Owned by gRPC while write_in_flight_.
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

BatchService::BatchService(LogService* log_service) : log_service_(log_service) {
  // Indexes are the methods' order in batch.proto, as the generated base
  // class numbers them.
  using internal::CheckedServerStreamingHandler;
  using internal::CheckedUnaryHandler;
  const MethodSeries& series = log_service_->Series();
  MarkMethodCallback(0, new CheckedUnaryHandler<ProduceBatchRequest, ProduceBatchResponse>(
                            [this](auto* context, auto* request, auto* response) {
                              return ProduceBatch(context, request, response);
                            },
                            series.produce_batch));
  MarkMethodCallback(1, new CheckedUnaryHandler<ConsumeBatchRequest, ConsumeBatchResponse>(
                            [this](auto* context, auto* request, auto* response) {
                              return ConsumeBatch(context, request, response);
                            },
                            series.consume_batch));
  MarkMethodCallback(
      2, new CheckedServerStreamingHandler<ConsumeBatchRequest, ConsumeBatchResponse>(
             [this](auto* context, auto* request) { return ConsumeBatchStream(context, request); },
             series.consume_batch_stream));
}

void BatchService::AnnounceLimits(grpc::CallbackServerContext* context) const {
  log_service_->AnnounceLimits(context);
  context->AddInitialMetadata(wire::kMaxBatchBytesMetadataKey,
                              std::to_string(log_service_->ServerOptions().max_batch_bytes));
}

absl::Status BatchService::Validate(const ProduceBatchRequest& request) const {
  if (request.values_size() == 0) return absl::InvalidArgumentError("batch has no values");
  if (request.types_size() != 0 && request.types_size() != request.values_size()) {
    return absl::InvalidArgumentError(absl::StrCat("batch has ", request.types_size(),
                                                   " types for ", request.values_size(),
                                                   " values; send none or one per value"));
  }
  const Options& options = log_service_->ServerOptions();
  uint64_t total = 0;
  for (int i = 0; i < request.values_size(); ++i) {
    const std::string& value = request.values(i);
    if (value.size() > options.max_record_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("message too large: value ", i, " of the batch is ", value.size(),
                       " bytes; the maximum is ", options.max_record_bytes));
    }
    total += value.size();
  }
  if (total > options.max_batch_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("message too large: the batch holds ", total,
                                                     " bytes of values; the maximum is ",
                                                     options.max_batch_bytes));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BatchService::ProduceBatch(grpc::CallbackServerContext* context,
                                                     const ProduceBatchRequest* request,
                                                     ProduceBatchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const telemetry::RpcCall call(log_service_->Series().produce_batch);
  call.Received();
  AnnounceLimits(context);
  std::shared_ptr<RpcTrace> trace = log_service_->StartTrace(context, kService, "ProduceBatch");
  telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
  absl::Status admitted = log_service_->Admit(context, kProduceAction);
  if (admitted.ok()) admitted = Validate(*request);
  if (!admitted.ok()) {
    LogService::FinishRpc(reactor, call, trace.get(), "ProduceBatch", ToGrpcStatus(admitted));
    return reactor;
  }
  std::shared_ptr<telemetry::Span> commit;
  if (trace != nullptr) commit = trace->StartChild("commit");
  // gRPC hands the request as const but owns a mutable message it only reads
  // again after the reactor finishes (to free it): moving the values out saves a
  // copy of every byte of the batch.
  auto* values = const_cast<ProduceBatchRequest*>(request)->mutable_values();
  std::vector<NewRecord> batch;
  batch.reserve(values->size());
  for (int i = 0; i < values->size(); ++i) {
    const uint32_t type = request->types_size() == 0 ? 0 : request->types(i);
    batch.push_back(NewRecord{std::move(*values->Mutable(i)), type});
  }
  const uint64_t count = batch.size();
  absl::Status queued = log_service_->Storage()->AppendBatch(
      std::move(batch),
      [context, reactor, response, call, trace, commit, count](absl::StatusOr<uint64_t> first) {
        telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
        if (commit != nullptr) {
          if (!first.ok()) commit->SetError(std::string(first.status().message()));
          if (first.ok()) trace->RecordFsync(*commit);
          commit->End();
        }
        if (first.ok()) {
          response->set_base_offset(*first);
          response->set_count(count);
        }
        LogService::FinishRpc(reactor, call, trace.get(), "ProduceBatch",
                              FinishingStatus(context, first.status()));
      });
  if (!queued.ok()) {
    LogService::FinishRpc(reactor, call, trace.get(), "ProduceBatch",
                          FinishingStatus(context, queued));
  }
  return reactor;
}

grpc::ServerUnaryReactor* BatchService::ConsumeBatch(grpc::CallbackServerContext* context,
                                                     const ConsumeBatchRequest* request,
                                                     ConsumeBatchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const telemetry::RpcCall call(log_service_->Series().consume_batch);
  call.Received();
  AnnounceLimits(context);
  std::shared_ptr<RpcTrace> trace = log_service_->StartTrace(context, kService, "ConsumeBatch");
  telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
  absl::Status admitted = log_service_->Admit(context, kConsumeAction);
  if (!admitted.ok()) {
    LogService::FinishRpc(reactor, call, trace.get(), "ConsumeBatch", ToGrpcStatus(admitted));
    return reactor;
  }
  const uint64_t offset = request->offset();
  const ReadBounds bounds = BoundsOf(*request);
  LogService* service = log_service_;
  const bool posted =
      service->Reads()->Post([service, reactor, response, offset, bounds, call, trace] {
        telemetry::ScopedSpanContext scope(trace ? &trace->Context() : nullptr);
        service->ReadConfirmingEnd(
            offset,
            [service, offset, bounds, response] {
              return ReadBatch(service->Storage(), offset, bounds, response);
            },
            [service, reactor, call, trace](const absl::Status& read) {
              LogService::FinishRpc(reactor, call, trace.get(), "ConsumeBatch",
                                    service->ReadStatus(read));
            });
      });
  if (!posted) {
    LogService::FinishRpc(reactor, call, trace.get(), "ConsumeBatch",
                          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
  return reactor;
}

grpc::ServerWriteReactor<ConsumeBatchResponse>* BatchService::ConsumeBatchStream(
    grpc::CallbackServerContext* context, const ConsumeBatchRequest* request) {
  AnnounceLimits(context);
  context->AddInitialMetadata(wire::kEndOffsetMetadataKey,
                              std::to_string(log_service_->Storage()->NextOffset()));
  auto reactor = std::make_shared<ConsumeBatchStreamReactor>(log_service_, request->offset(),
                                                             BoundsOf(*request));
  reactor->Begin(context);
  return reactor.get();
}

}  // namespace proglog::server
