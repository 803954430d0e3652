// core/server/batch_service: the log.v1.Batch callback service (batch.proto):
// ProduceBatch, ConsumeBatch and ConsumeBatchStream, many records per message.
// It shares the log.v1.Log service's commit log, read pool, admission (ACL,
// shutdown), status mapping, tracing and stream registry, so both services
// behave alike. Internal to core/server; see server.h for the contract.
//
// Thread-safety: all methods are called by gRPC on its callback threads.
#ifndef PROGLOG_CORE_SERVER_BATCH_SERVICE_H_
#define PROGLOG_CORE_SERVER_BATCH_SERVICE_H_

#include "core/server/log_service.h"
#include "log/v1/batch.grpc.pb.h"

namespace proglog::server {

class BatchService final : public logpb::v1::Batch::CallbackService {
 public:
  // `log_service` is borrowed and must outlive every RPC. A request body that
  // does not parse gets INVALID_ARGUMENT and counts in its method's series,
  // as on log.v1.Log (core/server/malformed_requests.h).
  explicit BatchService(LogService* log_service);

  grpc::ServerUnaryReactor* ProduceBatch(grpc::CallbackServerContext* context,
                                         const logpb::v1::ProduceBatchRequest* request,
                                         logpb::v1::ProduceBatchResponse* response) override;
  grpc::ServerUnaryReactor* ConsumeBatch(grpc::CallbackServerContext* context,
                                         const logpb::v1::ConsumeBatchRequest* request,
                                         logpb::v1::ConsumeBatchResponse* response) override;
  grpc::ServerWriteReactor<logpb::v1::ConsumeBatchResponse>* ConsumeBatchStream(
      grpc::CallbackServerContext* context, const logpb::v1::ConsumeBatchRequest* request) override;

  // OK, or why `request` cannot be produced: no values, an empty value
  // (INVALID_ARGUMENT), a value over max_record_bytes or a batch over
  // max_batch_bytes (RESOURCE_EXHAUSTED). Nothing is appended on an error.
  absl::Status Validate(const logpb::v1::ProduceBatchRequest& request) const;

 private:
  // The limits of log.v1 plus the batch limit, in the initial metadata.
  void AnnounceLimits(grpc::CallbackServerContext* context) const;

  LogService* const log_service_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_BATCH_SERVICE_H_
