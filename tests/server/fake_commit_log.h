// An in-memory CommitLog for server tests: what a replicated commit log looks
// like to the service, without Raft. A test can make it refuse appends (as a
// follower or a node in an election does), fail appends it has accepted (as a
// leader that lost its leadership does), and report a cluster. Accepted appends
// complete on the fake's own thread, in order, as a Raft driver's would. The
// contract test (commit_log_contract_test.cc) holds it to LocalCommitLog's behaviour.
#ifndef PROGLOG_TESTS_SERVER_FAKE_COMMIT_LOG_H_
#define PROGLOG_TESTS_SERVER_FAKE_COMMIT_LOG_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/server/commit_log.h"

namespace proglog::testing {

class FakeCommitLog final : public server::CommitLog {
 public:
  FakeCommitLog() : thread_([this] { Run(); }) {}
  ~FakeCommitLog() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // While not OK, AppendBatch refuses at once with `status`.
  void RefuseAppends(absl::Status status) {
    absl::MutexLock lock(&mu_);
    refusal_ = std::move(status);
  }
  // While not OK, accepted appends complete with `status` and append nothing.
  void FailAcceptedAppends(absl::Status status) {
    absl::MutexLock lock(&mu_);
    failure_ = std::move(status);
  }
  void SetServers(std::vector<server::ServerInfo> servers) {
    absl::MutexLock lock(&mu_);
    servers_ = std::move(servers);
  }

  absl::Status AppendBatch(std::vector<server::NewRecord> records, AppendDone done) override {
    absl::MutexLock lock(&mu_);
    if (!refusal_.ok()) return refusal_;
    if (stopping_) return absl::UnavailableError("fake commit log is stopped");
    if (records.empty()) return absl::InvalidArgumentError("append of no records");
    accepted_.push_back(Accepted{std::move(records), std::move(done)});
    return absl::OkStatus();
  }

  absl::StatusOr<server::Record> Read(uint64_t offset) override {
    absl::MutexLock lock(&mu_);
    if (offset >= records_.size()) {
      return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end"));
    }
    return server::Record{records_[offset].value, offset, 0, records_[offset].type};
  }
  absl::StatusOr<std::vector<server::Record>> ReadRange(uint64_t offset, size_t max_records,
                                                        size_t max_bytes) override {
    absl::MutexLock lock(&mu_);
    if (offset >= records_.size()) {
      return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end"));
    }
    std::vector<server::Record> records;
    size_t bytes = 0;
    for (uint64_t at = offset; at < records_.size() && records.size() < max_records; ++at) {
      if (!records.empty() && bytes + records_[at].value.size() > max_bytes) break;
      bytes += records_[at].value.size();
      records.push_back(server::Record{records_[at].value, at, 0, records_[at].type});
    }
    return records;
  }
  uint64_t LowestOffset() override { return 0; }
  uint64_t NextOffset() override {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) override {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      id = next_wait_id_++;
      if (offset >= records_.size()) {
        waits_.emplace(id, Wait{offset, std::move(ready)});
        return id;
      }
    }
    ready();
    return id;
  }
  bool CancelWait(uint64_t id) override {
    absl::MutexLock lock(&mu_);
    return waits_.erase(id) > 0;
  }
  std::vector<server::ServerInfo> Servers() override {
    absl::MutexLock lock(&mu_);
    return servers_;
  }

 private:
  struct Accepted {
    std::vector<server::NewRecord> records;
    AppendDone done;
  };
  struct Wait {
    uint64_t offset;
    absl::AnyInvocable<void()> ready;
  };

  // The "driver": completes accepted appends in order, then fires the waits
  // they satisfied, outside the lock.
  void Run() {
    for (;;) {
      Accepted next;
      absl::StatusOr<uint64_t> result;
      std::vector<absl::AnyInvocable<void()>> fired;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](FakeCommitLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return self->stopping_ || !self->accepted_.empty();
            },
            this));
        if (accepted_.empty()) return;
        next = std::move(accepted_.front());
        accepted_.pop_front();
        if (!failure_.ok()) {
          result = failure_;
        } else {
          result = records_.size();
          for (server::NewRecord& record : next.records) records_.push_back(std::move(record));
          for (auto it = waits_.begin(); it != waits_.end();) {
            if (it->second.offset < records_.size()) {
              fired.push_back(std::move(it->second.ready));
              it = waits_.erase(it);
            } else {
              ++it;
            }
          }
        }
      }
      next.done(std::move(result));
      for (auto& ready : fired) ready();
    }
  }

  absl::Mutex mu_;
  std::vector<server::NewRecord> records_ ABSL_GUARDED_BY(mu_);
  std::deque<Accepted> accepted_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Wait> waits_ ABSL_GUARDED_BY(mu_);
  uint64_t next_wait_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::vector<server::ServerInfo> servers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_SERVER_FAKE_COMMIT_LOG_H_
