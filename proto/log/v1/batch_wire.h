// proto/log/v1/batch_wire.h: wire constants of the log.v1.Batch service
// (batch.proto) that are not in the proto. Header-only, no dependencies.
#ifndef PROGLOG_PROTO_LOG_V1_BATCH_WIRE_H_
#define PROGLOG_PROTO_LOG_V1_BATCH_WIRE_H_

#include <cstdint>

namespace proglog::wire {

// Full name of the batch service; a server that lacks it answers UNIMPLEMENTED.
inline constexpr char kBatchServiceName[] = "log.v1.Batch";

// Initial-metadata key in which the server states, on every log.v1.Batch RPC,
// the most value bytes one ProduceBatch may carry (decimal), so a client can
// split its batches before sending them.
inline constexpr char kMaxBatchBytesMetadataKey[] = "proglog-max-batch-bytes";

// ConsumeBatch bounds when the request leaves them 0.
inline constexpr uint64_t kDefaultConsumeBatchBytes = 1ull << 20;
inline constexpr uint32_t kDefaultConsumeBatchRecords = 4096;

}  // namespace proglog::wire

#endif  // PROGLOG_PROTO_LOG_V1_BATCH_WIRE_H_
