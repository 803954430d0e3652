// A cancellation signal shared between a caller and the call it started: the
// caller (any thread) calls Cancel(); the call stops at its next wait, and an
// RPC in flight is cancelled through its grpc::ClientContext.
#ifndef PROGLOG_CORE_CLIENT_CANCELLATION_H_
#define PROGLOG_CORE_CLIENT_CANCELLATION_H_

#include <set>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace grpc {
class ClientContext;
}

namespace proglog::client {

class Cancellation {
 public:
  // Cancels every attached RPC and wakes a Sleep. Idempotent; any thread.
  void Cancel();
  bool IsCancelled() const;

  // While attached, Cancel() cancels `ctx`. Attach returns false (and does not
  // attach) if already cancelled. Detach before `ctx` is destroyed.
  bool Attach(grpc::ClientContext* ctx);
  void Detach(grpc::ClientContext* ctx);

  // Waits until `deadline` or a Cancel(); false if cancelled.
  bool SleepUntil(absl::Time deadline);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> attached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_CANCELLATION_H_
