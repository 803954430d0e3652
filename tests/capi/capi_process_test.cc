// What opening the library does to the process: the first proglog_client_open
// (or proglog_node_open) turns off abseil's mutex deadlock detection, which
// Debian's abseil leaves on. A forked child that takes two mutexes in both
// orders shows which way it is set: detection aborts the child on the second
// order, without it the child exits normally.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/synchronization/mutex.h"
#include "proglog/proglog.h"

namespace {

// Status of a child that locks a then b, then b then a (one thread: no real
// deadlock, only the order that deadlock detection reports).
int LockBothOrdersInAChild() {
  const pid_t child = ::fork();
  if (child == 0) {
    absl::Mutex a, b;
    {
      absl::MutexLock first(&a);
      absl::MutexLock second(&b);
    }
    {
      absl::MutexLock first(&b);
      absl::MutexLock second(&a);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

TEST(CapiProcessTest, OpeningAClientTurnsOffMutexDeadlockDetection) {
  const int before = LockBothOrdersInAChild();
  if (WIFEXITED(before)) {
    GTEST_SKIP() << "this abseil build does not detect lock-order inversions, so there is "
                    "nothing to turn off";
  }
  ASSERT_TRUE(WIFSIGNALED(before)) << "status " << before;

  proglog_client_options options = PROGLOG_CLIENT_OPTIONS_INIT;
  const char* addresses[] = {"127.0.0.1:1"};
  options.addresses = addresses;
  options.address_count = 1;
  proglog_client* client = nullptr;
  proglog_error* error = nullptr;
  // Whether or not the client reaches anyone: the setting is made before.
  if (proglog_client_open(&client, &options, &error) == PROGLOG_OK) proglog_client_free(client);
  proglog_error_free(error);

  const int after = LockBothOrdersInAChild();
  EXPECT_TRUE(WIFEXITED(after) && WEXITSTATUS(after) == 0) << "status " << after;
}

}  // namespace
