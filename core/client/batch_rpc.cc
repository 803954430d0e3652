#include "core/client/batch_rpc.h"

#include <charconv>
#include <utility>

#include "proto/log/v1/batch_wire.h"
#include "proto/log/v1/wire.h"

namespace proglog::client {
namespace {

using logpb::v1::ConsumeBatchRequest;
using logpb::v1::ConsumeBatchResponse;
using logpb::v1::ProduceBatchRequest;
using logpb::v1::ProduceBatchResponse;

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string MetadataValue(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                          const char* key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

uint64_t ParseU64(const std::string& text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

void SetDeadline(grpc::ClientContext* context, absl::Time deadline) {
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
}

// Fills the call's outputs from what the server sent.
void Report(const grpc::ClientContext& context, BatchCall* call) {
  if (call == nullptr) return;
  call->leader = MetadataValue(context.GetServerTrailingMetadata(), wire::kLeaderMetadataKey);
  const auto& initial = context.GetServerInitialMetadata();
  call->max_record_bytes = ParseU64(MetadataValue(initial, wire::kMaxRecordBytesMetadataKey));
  call->max_batch_bytes = ParseU64(MetadataValue(initial, wire::kMaxBatchBytesMetadataKey));
}

absl::StatusOr<uint64_t> Send(logpb::v1::Batch::StubInterface& stub,
                              const ProduceBatchRequest& request, BatchCall* call) {
  grpc::ClientContext context;
  SetDeadline(&context, call != nullptr ? call->deadline : absl::InfiniteFuture());
  ProduceBatchResponse response;
  const grpc::Status status = stub.ProduceBatch(&context, request, &response);
  Report(context, call);
  if (!status.ok()) return FromGrpc(status);
  return response.base_offset();
}

ConsumedBatch FromResponse(ConsumeBatchResponse& response) {
  ConsumedBatch batch;
  batch.base_offset = response.base_offset();
  batch.end_offset = response.end_offset();
  batch.values.reserve(response.values_size());
  for (std::string& value : *response.mutable_values()) batch.values.push_back(std::move(value));
  return batch;
}

ConsumeBatchRequest MakeConsume(uint64_t offset, uint64_t max_bytes, uint32_t max_records) {
  ConsumeBatchRequest request;
  request.set_offset(offset);
  request.set_max_bytes(max_bytes);
  request.set_max_records(max_records);
  return request;
}

}  // namespace

std::unique_ptr<logpb::v1::Batch::StubInterface> NewBatchStub(
    const std::shared_ptr<grpc::ChannelInterface>& channel) {
  return logpb::v1::Batch::NewStub(channel);
}

bool IsBatchUnsupported(const absl::Status& status) { return absl::IsUnimplemented(status); }

absl::StatusOr<uint64_t> ProduceBatch(logpb::v1::Batch::StubInterface& stub,
                                      std::span<const std::string_view> values, BatchCall* call) {
  ProduceBatchRequest request;
  request.mutable_values()->Reserve(static_cast<int>(values.size()));
  for (std::string_view value : values) request.add_values(value.data(), value.size());
  return Send(stub, request, call);
}

absl::StatusOr<uint64_t> ProduceBatch(logpb::v1::Batch::StubInterface& stub,
                                      std::vector<std::string> values, BatchCall* call) {
  ProduceBatchRequest request;
  request.mutable_values()->Reserve(static_cast<int>(values.size()));
  for (std::string& value : values) *request.add_values() = std::move(value);
  return Send(stub, request, call);
}

absl::StatusOr<ConsumedBatch> ConsumeBatch(logpb::v1::Batch::StubInterface& stub, uint64_t offset,
                                           uint64_t max_bytes, uint32_t max_records,
                                           BatchCall* call) {
  grpc::ClientContext context;
  SetDeadline(&context, call != nullptr ? call->deadline : absl::InfiniteFuture());
  ConsumeBatchResponse response;
  const grpc::Status status =
      stub.ConsumeBatch(&context, MakeConsume(offset, max_bytes, max_records), &response);
  Report(context, call);
  if (!status.ok()) return FromGrpc(status);
  return FromResponse(response);
}

BatchStreamReader::BatchStreamReader(logpb::v1::Batch::StubInterface& stub, uint64_t offset,
                                     uint64_t max_bytes, uint32_t max_records,
                                     absl::Time deadline) {
  SetDeadline(&context_, deadline);
  reader_ = stub.ConsumeBatchStream(&context_, MakeConsume(offset, max_bytes, max_records));
}

BatchStreamReader::~BatchStreamReader() {
  if (!done_) {
    context_.TryCancel();
    static_cast<void>(reader_->Finish());
  }
}

absl::StatusOr<std::optional<ConsumedBatch>> BatchStreamReader::Next() {
  if (done_) return absl::FailedPreconditionError("the batch stream has ended");
  ConsumeBatchResponse response;
  if (reader_->Read(&response)) return std::optional<ConsumedBatch>(FromResponse(response));
  done_ = true;
  const grpc::Status status = reader_->Finish();
  if (!status.ok()) return FromGrpc(status);
  return std::optional<ConsumedBatch>();
}

}  // namespace proglog::client
