#include "core/log/testing_hooks.h"

#include <atomic>

#include "absl/synchronization/mutex.h"

namespace proglog::log::internal {
namespace {

std::atomic<bool> has_hook{false};

struct HookSlot {
  absl::Mutex mu;
  std::function<void()> hook ABSL_GUARDED_BY(mu);
};
HookSlot& Slot() {
  static HookSlot* slot = new HookSlot;  // never destroyed: safe at exit
  return *slot;
}

}  // namespace

void SetBeforeGroupSyncHookForTesting(std::function<void()> hook) {
  HookSlot& slot = Slot();
  absl::MutexLock l(&slot.mu);
  has_hook.store(static_cast<bool>(hook));
  slot.hook = std::move(hook);
}

void RunBeforeGroupSyncHook() {
  if (!has_hook.load(std::memory_order_relaxed)) return;  // the production path
  std::function<void()> hook;
  {
    HookSlot& slot = Slot();
    absl::MutexLock l(&slot.mu);
    hook = slot.hook;
  }
  if (hook) hook();
}

}  // namespace proglog::log::internal
