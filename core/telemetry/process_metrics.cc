#include "core/telemetry/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace proglog::telemetry {
namespace {

FamilySnapshot Single(const char* name, const char* help, MetricType type, double value) {
  return FamilySnapshot{name, help, type, {Sample{{}, value}}, {}};
}

// Seconds since the epoch at which the system booted (/proc/stat's btime).
double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  while (stat >> key) {
    if (key == "btime") {
      double btime = 0;
      stat >> btime;
      return btime;
    }
    stat.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

void CollectProcessMetrics(std::vector<FamilySnapshot>* out) {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    std::vector<std::string> values;
    while (fields >> field) values.push_back(field);
    // values[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
    if (values.size() > 21) {
      const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
      const double cpu = (std::stod(values[11]) + std::stod(values[12])) / ticks;
      out->push_back(Single("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            MetricType::kCounter, cpu));
      out->push_back(Single("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            MetricType::kGauge, BootTimeSeconds() + std::stod(values[19]) / ticks));
      out->push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            MetricType::kGauge, std::stod(values[20])));
      out->push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::kGauge, std::stod(values[21]) * page));
    }
  }
  std::error_code error;
  double open_fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++open_fds;
  }
  out->push_back(
      Single("process_open_fds", "Number of open file descriptors.", MetricType::kGauge, open_fds));
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out->push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                          MetricType::kGauge, static_cast<double>(limit.rlim_cur)));
  }
}

}  // namespace proglog::telemetry
