// A log::Log decorator for server tests: forwards to a real Log and lets a test
// fail appends as a full disk would, hold appends in flight, and count the
// tail waits a stream has registered. The real Log does all the work.
#ifndef PROGLOG_TESTS_SERVER_FAULT_INJECTING_LOG_H_
#define PROGLOG_TESTS_SERVER_FAULT_INJECTING_LOG_H_

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/log/log.h"

namespace proglog::testing {

class FaultInjectingLog final : public log::Log {
 public:
  explicit FaultInjectingLog(std::unique_ptr<log::Log> real) : real_(std::move(real)) {}

  // Appends fail with ResourceExhausted (as ENOSPC does) while set.
  void SetDiskFull(bool full) { disk_full_.store(full); }
  // While held, appends block after being counted in AppendsEntered().
  void HoldAppends(bool hold) {
    absl::MutexLock lock(&mu_);
    held_ = hold;
  }
  int AppendsEntered() {
    absl::MutexLock lock(&mu_);
    return entered_;
  }
  // Tail waits registered and neither fired nor cancelled.
  int PendingWaits() const { return pending_waits_->load(); }

  absl::StatusOr<uint64_t> Append(const log::Record& record) override {
    return AppendBatch({&record, 1});
  }
  absl::StatusOr<uint64_t> AppendBatch(std::span<const log::Record> records) override {
    {
      absl::MutexLock lock(&mu_);
      ++entered_;
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &held_));
    }
    if (disk_full_.load())
      return absl::ResourceExhaustedError("no space left on device (injected)");
    return real_->AppendBatch(records);
  }
  absl::StatusOr<log::Record> Read(uint64_t offset) const override { return real_->Read(offset); }
  absl::StatusOr<std::vector<log::Record>> ReadRange(uint64_t offset, size_t max_records,
                                                     size_t max_bytes) const override {
    return real_->ReadRange(offset, max_records, max_bytes);
  }
  uint64_t LowestOffset() const override { return real_->LowestOffset(); }
  uint64_t NextOffset() const override { return real_->NextOffset(); }
  absl::Status Truncate(uint64_t lowest) override { return real_->Truncate(lowest); }
  absl::StatusOr<int> EnforceRetention() override { return real_->EnforceRetention(); }
  uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) override {
    pending_waits_->fetch_add(1);
    // The counter is shared so a callback that outlives this object stays valid.
    return real_->WaitForOffset(offset,
                                [count = pending_waits_, ready = std::move(ready)]() mutable {
                                  count->fetch_sub(1);
                                  ready();
                                });
  }
  bool CancelWait(uint64_t id) override {
    const bool cancelled = real_->CancelWait(id);
    if (cancelled) pending_waits_->fetch_sub(1);
    return cancelled;
  }
  uint64_t SizeBytes() const override { return real_->SizeBytes(); }
  absl::Status Close() override { return real_->Close(); }

 private:
  std::unique_ptr<log::Log> real_;
  std::atomic<bool> disk_full_{false};
  std::shared_ptr<std::atomic<int>> pending_waits_ = std::make_shared<std::atomic<int>>(0);
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_SERVER_FAULT_INJECTING_LOG_H_
