// Exponential backoff with jitter, shared by the client's call retries and
// its subscriptions' reopenings.
#ifndef PROGLOG_CORE_CLIENT_BACKOFF_H_
#define PROGLOG_CORE_CLIENT_BACKOFF_H_

#include "absl/time/time.h"
#include "core/client/client.h"

namespace proglog::client {

// The pause before the next attempt: the first is retry.initial_backoff, each
// later one doubles up to retry.max_backoff. `previous` is the last pause's
// base (zero before the first); the result's base is stored back in it.
// The returned pause is drawn uniformly from [base/2, base], so clients that
// failed together do not all come back at the same instant.
absl::Duration NextBackoff(absl::Duration& previous, const RetryOptions& retry);

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_BACKOFF_H_
