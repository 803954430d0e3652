// Test-only seams in the storage engine, so tests can hold the group-commit
// leader inside its fsync deterministically instead of racing it. Setting a
// hook is thread-safe; production code never sets one.
#ifndef PROGLOG_CORE_LOG_TESTING_HOOKS_H_
#define PROGLOG_CORE_LOG_TESTING_HOOKS_H_

#include <functional>

namespace proglog::log::internal {

// Runs `hook` in every group-commit leader right before its fdatasync
// (Durability::kAlways), after the group's bytes were written. Empty clears it.
void SetBeforeGroupSyncHookForTesting(std::function<void()> hook);
void RunBeforeGroupSyncHook();

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_TESTING_HOOKS_H_
