#include "core/client/cancellation.h"

#include <grpcpp/client_context.h>

namespace proglog::client {

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  // TryCancel only signals gRPC; it does not call back into us, so holding
  // mu_ keeps a context from being detached and destroyed meanwhile.
  for (grpc::ClientContext* ctx : attached_) ctx->TryCancel();
}

bool Cancellation::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::Attach(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  attached_.insert(ctx);
  return true;
}

void Cancellation::Detach(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  attached_.erase(ctx);
}

bool Cancellation::SleepUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&cancelled_), deadline);
  return !cancelled_;
}

}  // namespace proglog::client
