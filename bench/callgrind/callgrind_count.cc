#include "bench/callgrind/callgrind_count.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "valgrind/callgrind.h"

namespace proglog::bench {
namespace {

// The newest dump of this process: callgrind.out.<pid>.<n>, highest n.
std::optional<std::filesystem::path> NewestDump() {
  const std::string prefix = "callgrind.out." + std::to_string(getpid()) + ".";
  std::optional<std::filesystem::path> newest;
  int newest_part = -1;
  for (const auto& entry : std::filesystem::directory_iterator(".")) {
    const std::string name = entry.path().filename().string();
    int part = 0;
    if (name.rfind(prefix, 0) == 0 && absl::SimpleAtoi(name.substr(prefix.size()), &part) &&
        part > newest_part) {
      newest_part = part;
      newest = entry.path();
    }
  }
  return newest;
}

// The dump's "totals:" line (older callgrinds write "summary:").
std::optional<double> TotalOf(const std::filesystem::path& dump) {
  std::ifstream in(dump);
  for (std::string line; std::getline(in, line);) {
    for (const char* key : {"totals: ", "summary: "}) {
      double count = 0;
      if (line.rfind(key, 0) == 0 && absl::SimpleAtod(line.substr(std::strlen(key)), &count)) {
        return count;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

bool UnderValgrind() { return RUNNING_ON_VALGRIND != 0; }

std::optional<double> CountInstructions(const std::string& label,
                                        const std::function<void()>& calls) {
  CALLGRIND_ZERO_STATS;
  calls();
  CALLGRIND_DUMP_STATS_AT(label.c_str());
  const std::optional<std::filesystem::path> dump = NewestDump();
  if (!dump) return std::nullopt;
  return TotalOf(*dump);
}

}  // namespace proglog::bench
