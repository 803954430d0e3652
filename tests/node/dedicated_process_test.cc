// TuneAllocatorForServing, observed through glibc's own statistics. Each case
// runs in a forked child: the allocator's settings are process-wide and
// cannot be undone.
#include "core/node/dedicated_process.h"

#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <vector>

#include "gtest/gtest.h"

namespace proglog::node {
namespace {

// Runs `body` in a child process; its exit code (or -1 if it did not exit).
int InChild(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Whether a 2 MiB block is given its own mapping (mallinfo2's hblks counts
// them), as glibc does by default and not once tuned.
bool TwoMiBBlockIsMapped() {
  const size_t before = mallinfo2().hblks;
  void* volatile block = std::malloc(2u << 20);
  const bool mapped = mallinfo2().hblks > before;
  std::free(block);
  return mapped;
}

// Bytes of the main heap still held after 16 MiB of small blocks are freed.
size_t HeapKeptAfterFreeing16MiB() {
  std::vector<void*> blocks;
  blocks.reserve(4096);  // first, so that it does not end up above the blocks
  for (int i = 0; i < 4096; ++i) blocks.push_back(std::malloc(4096));
  for (void* block : blocks) std::free(block);
  return mallinfo2().arena;
}

TEST(DedicatedProcessTest, UntunedGlibcMapsLargeBlocksAndTrimsFreedMemory) {
  // The baseline the tuning changes; if glibc's defaults differ, the other
  // cases prove nothing, and this says so.
  EXPECT_EQ(InChild([] {
              unsetenv("GLIBC_TUNABLES");
              if (!TwoMiBBlockIsMapped()) return 1;
              return HeapKeptAfterFreeing16MiB() < (8u << 20) ? 0 : 2;
            }),
            0);
}

TEST(DedicatedProcessTest, TunedBlocksComeFromTheHeapAndFreedMemoryIsKept) {
  EXPECT_EQ(InChild([] {
              unsetenv("GLIBC_TUNABLES");
              if (!TuneAllocatorForServing()) return 1;
              if (TwoMiBBlockIsMapped()) return 2;
              return HeapKeptAfterFreeing16MiB() >= (16u << 20) ? 0 : 3;
            }),
            0);
}

TEST(DedicatedProcessTest, AnOperatorsGlibcTunablesWin) {
  EXPECT_EQ(InChild([] {
              setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072", 1);
              if (TuneAllocatorForServing()) return 1;
              return TwoMiBBlockIsMapped() ? 0 : 2;  // nothing was changed
            }),
            0);
  EXPECT_EQ(InChild([] {
              setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072", 1);
              return TuneAllocatorForServing() ? 1 : 0;
            }),
            0);
}

TEST(DedicatedProcessTest, OtherTunablesDoNotStopTheTuning) {
  EXPECT_EQ(InChild([] {
              setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", 1);
              return TuneAllocatorForServing() ? 0 : 1;
            }),
            0);
}

}  // namespace
}  // namespace proglog::node
