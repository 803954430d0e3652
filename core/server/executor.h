// core/server/executor: a fixed pool of threads that run tasks the gRPC
// callback threads must not run themselves (anything that touches the disk).
//
// Thread-safety: Post() and Stop() are thread-safe. Stop() runs every task
// already posted, then joins the threads; tasks posted after Stop() are dropped.
#ifndef PROGLOG_CORE_SERVER_EXECUTOR_H_
#define PROGLOG_CORE_SERVER_EXECUTOR_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace proglog::server {

class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; returns false (and drops it) once Stop() has begun.
  bool Post(absl::AnyInvocable<void()> task);
  // Drains the queue and joins the threads. Idempotent.
  void Stop();

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_EXECUTOR_H_
