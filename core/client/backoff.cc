#include "core/client/backoff.h"

#include <algorithm>
#include <random>

namespace proglog::client {

absl::Duration NextBackoff(absl::Duration& previous, const RetryOptions& retry) {
  const absl::Duration cap = absl::FromChrono(retry.max_backoff);
  previous = previous == absl::ZeroDuration() ? absl::FromChrono(retry.initial_backoff)
                                              : std::min(previous * 2, cap);
  thread_local std::minstd_rand random(std::random_device{}());
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return previous * share(random);
}

}  // namespace proglog::client
