// Test support: waiting for a condition that another thread or process makes
// true (a leader elected, a span exported, a gauge updated).
#ifndef PROGLOG_TESTS_TESTING_POLL_UNTIL_H_
#define PROGLOG_TESTS_TESTING_POLL_UNTIL_H_

#include <chrono>
#include <functional>
#include <thread>

namespace proglog::testing {

// Calls `condition` every few milliseconds until it holds (true) or `timeout`
// has passed (the condition's last answer). The timeout only bounds a failing
// run: a passing one returns as soon as the condition holds.
inline bool PollUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_TESTING_POLL_UNTIL_H_
