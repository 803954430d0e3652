// core/client/batch_rpc: blocking calls of the log.v1.Batch service
// (proto/log/v1/batch.proto) for the client to build on: ProduceBatch (many
// values, one reply with the base offset), ConsumeBatch (a fetch of up to
// max_bytes / max_records from an offset) and a reader of ConsumeBatchStream
// (the same per message, tailing the log). They do not retry, follow leaders
// or balance load: the caller does, as for log.v1.
//
// Errors are the server's codes as absl::Status. Two need the caller's attention:
//   - IsBatchUnsupported(status): the server lacks log.v1.Batch (an original
//     proglog, or an older node); fall back to log.v1.Log.
//   - UNAVAILABLE from a follower: `BatchCall::leader` holds the leader's RPC
//     address from the proglog-leader trailer (empty during an election).
// A ConsumeBatch reply can be as large as max_bytes plus framing: the channel's
// max receive message size must allow it (gRPC's default is 4 MiB).
//
// Thread-safety: the free functions are thread-safe (gRPC stubs are);
// a BatchStreamReader is used by one thread at a time.
#ifndef PROGLOG_CORE_CLIENT_BATCH_RPC_H_
#define PROGLOG_CORE_CLIENT_BATCH_RPC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "log/v1/batch.grpc.pb.h"

namespace proglog::client {

// A stub of log.v1.Batch over `channel`; cheap, reusable across threads.
std::unique_ptr<logpb::v1::Batch::StubInterface> NewBatchStub(
    const std::shared_ptr<grpc::ChannelInterface>& channel);

// True when `status` says the server has no log.v1.Batch (UNIMPLEMENTED).
bool IsBatchUnsupported(const absl::Status& status);

// Per-call settings and what the call reports besides its result.
struct BatchCall {
  // The call fails with DEADLINE_EXCEEDED after this. Default: none.
  absl::Time deadline = absl::InfiniteFuture();
  // Out: the leader's RPC address when a follower refused the call (from the
  // proglog-leader trailer); empty otherwise.
  std::string leader;
  // Out: the server's limits from the initial metadata, 0 when not sent.
  uint64_t max_record_bytes = 0;
  uint64_t max_batch_bytes = 0;
};

// Appends `values` (at least one, each non-empty) in order at consecutive
// offsets, all or nothing, and returns the first one's offset (values[i] is at
// base + i) once durable (single node) or committed (cluster).
absl::StatusOr<uint64_t> ProduceBatch(logpb::v1::Batch::StubInterface& stub,
                                      std::span<const std::string_view> values,
                                      BatchCall* call = nullptr);
// The same, moving `values` into the request instead of copying them.
absl::StatusOr<uint64_t> ProduceBatch(logpb::v1::Batch::StubInterface& stub,
                                      std::vector<std::string> values, BatchCall* call = nullptr);

// Records read in one fetch: values[i] is at base_offset + i.
struct ConsumedBatch {
  uint64_t base_offset = 0;
  std::vector<std::string> values;
  // The log's next offset when the server read the batch.
  uint64_t end_offset = 0;
  uint64_t NextOffset() const { return base_offset + values.size(); }
};

// Reads consecutive records from `offset`: at least one, then more while within
// `max_records` and `max_bytes` of values (0: the server's defaults, 4096 and
// 1 MiB). OUT_OF_RANGE below the lowest or at/after the next offset.
absl::StatusOr<ConsumedBatch> ConsumeBatch(logpb::v1::Batch::StubInterface& stub, uint64_t offset,
                                           uint64_t max_bytes, uint32_t max_records = 0,
                                           BatchCall* call = nullptr);

// Reads a ConsumeBatchStream: from `offset` on, then tailing; each Next()
// returns the records of one message. Destroying the reader (or Cancel())
// ends the stream.
class BatchStreamReader {
 public:
  // Opens the stream. `stub` is borrowed and must outlive the reader.
  BatchStreamReader(logpb::v1::Batch::StubInterface& stub, uint64_t offset, uint64_t max_bytes,
                    uint32_t max_records = 0, absl::Time deadline = absl::InfiniteFuture());
  ~BatchStreamReader();
  BatchStreamReader(const BatchStreamReader&) = delete;
  BatchStreamReader& operator=(const BatchStreamReader&) = delete;

  // The next message's records (blocks until the server has some); nullopt
  // once the stream ended with OK (the server shut down: resume elsewhere from
  // the offset after the last record); an error when it ended with one.
  absl::StatusOr<std::optional<ConsumedBatch>> Next();
  // Ends the stream from any thread; a blocked Next() returns CANCELLED.
  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderInterface<logpb::v1::ConsumeBatchResponse>> reader_;
  bool done_ = false;
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_BATCH_RPC_H_
