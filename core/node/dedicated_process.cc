#include "core/node/dedicated_process.h"

#include <malloc.h>

#include <cstdlib>
#include <string_view>

namespace proglog::node {

bool TuneAllocatorForServing() {
  if (const char* tunables = std::getenv("GLIBC_TUNABLES"); tunables != nullptr) {
    const std::string_view set(tunables);
    if (set.find("glibc.malloc.trim_threshold") != std::string_view::npos ||
        set.find("glibc.malloc.mmap_threshold") != std::string_view::npos) {
      return false;
    }
  }
  // mallopt returns 1 on success; both are plain integers glibc accepts.
  return mallopt(M_TRIM_THRESHOLD, static_cast<int>(kKeptFreeBytes)) == 1 &&
         mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMappedBlockBytes)) == 1;
}

}  // namespace proglog::node
