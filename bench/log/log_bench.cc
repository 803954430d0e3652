// proglog-bench-log: throughput of the storage engine next to the physical
// limits of the same disk, measured in the same run.
//
//   proglog-bench-log [--dir D] [--seconds S] [--max-mib N]
//
// Limits, probed in D before and after the case they rate (the better is used):
//   raw-seq-write   write() of 1 MiB chunks for S seconds, then one fdatasync
//   batch-fdatasync write() of one batch, fdatasync, repeated (batch = the bytes
//                   one group of appends writes: 1 record, or 16 records)
// Then log appends at 100 B, 1 KiB and 64 KiB values for each fsync policy
// (one producer; plus 16 producers for `always`), then AppendBatch of ~256 KiB
// batches (never and always, one producer, with the time per record), and reads. "disk MB/s"
// counts framed bytes as stored (value + 28 bytes); "ratio" divides it by the
// matching limit: raw-seq-write for never/interval, batch-fdatasync for always.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/log/log.h"

namespace {

using Clock = std::chrono::steady_clock;
using proglog::log::Durability;
using proglog::log::Log;
using proglog::log::Options;
using proglog::log::Record;

constexpr uint64_t kOverhead = 28;  // frame header + body header per record

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Config {
  std::filesystem::path dir;
  double seconds = 1.5;
  uint64_t max_mib = 256;
};

void Die(const std::string& what) {
  std::fprintf(stderr, "proglog-bench-log: %s\n", what.c_str());
  std::exit(1);
}

// write() of 1 MiB chunks for about `seconds` (at most `max_bytes`), then one
// fdatasync: the disk's sequential write rate, flush included.
double RawSequentialWrite(const std::filesystem::path& file, double seconds, uint64_t max_bytes) {
  std::string chunk(1 << 20, 'r');
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + file.string() + ": " + std::strerror(errno));
  uint64_t written = 0;
  const auto start = Clock::now();
  while (Seconds(Clock::now() - start) < seconds && written < max_bytes) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      Die("write: " + std::string(std::strerror(errno)));
    }
    written += chunk.size();
  }
  if (::fdatasync(fd) != 0) Die("fdatasync failed");
  const double s = Seconds(Clock::now() - start);
  ::close(fd);
  std::filesystem::remove(file);
  return static_cast<double>(written) / s / 1e6;
}

// Repeated write(batch)+fdatasync for about `seconds`: the best an fsync-per-group log can do.
double BatchedFdatasync(const std::filesystem::path& file, uint64_t batch, double seconds) {
  std::string data(batch, 'b');
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + file.string() + ": " + std::strerror(errno));
  uint64_t written = 0;
  const auto start = Clock::now();
  while (Seconds(Clock::now() - start) < seconds) {
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      Die("write: " + std::string(std::strerror(errno)));
    }
    if (::fdatasync(fd) != 0) Die("fdatasync failed");
    written += batch;
  }
  const double s = Seconds(Clock::now() - start);
  ::close(fd);
  std::filesystem::remove(file);
  return static_cast<double>(written) / s / 1e6;
}

struct Result {
  uint64_t records = 0;
  uint64_t value_bytes = 0;
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
  double records_per_sync = 0;
};

std::string Payload(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string v(size, '\0');
  for (char& c : v) c = static_cast<char>('a' + rng() % 26);
  return v;
}

std::unique_ptr<Log> OpenLog(const std::filesystem::path& dir, Durability durability) {
  std::filesystem::remove_all(dir);
  Options options;
  options.durability = durability;
  options.max_record_bytes = 1 << 20;
  auto log = Log::Open(dir, options);
  if (!log.ok()) Die(log.status().ToString());
  return *std::move(log);
}

// `producers` threads append `size`-byte values for about `seconds` or until
// `max_bytes` were appended; the time includes the final Close (its fsync), so
// that no policy is credited with bytes still in the page cache.
Result Append(const std::filesystem::path& dir, Durability durability, size_t size, int producers,
              double seconds, uint64_t max_bytes) {
  std::unique_ptr<Log> log = OpenLog(dir, durability);
  const Record record{Payload(size, size), 0, 0, 0};
  std::atomic<uint64_t> appended{0};
  std::vector<std::vector<double>> latencies(producers);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      // One clock read per record: the end of an append starts the next one.
      // (On this class of VM a read costs about as much as a tenth of a
      // small append.)
      auto now = Clock::now();
      while (Seconds(now - start) < seconds &&
             appended.load(std::memory_order_relaxed) * size < max_bytes) {
        const auto t0 = now;
        if (!log->Append(record).ok()) Die("append failed");
        now = Clock::now();
        latencies[p].push_back(Seconds(now - t0) * 1e6);
        appended.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  const Log::Stats stats = log->GetStats();
  if (!log->Close().ok()) Die("close failed");
  Result r;
  if (stats.syncs > 0)
    r.records_per_sync = static_cast<double>(stats.records) / static_cast<double>(stats.syncs);
  r.seconds = Seconds(Clock::now() - start);
  r.records = appended.load();
  r.value_bytes = r.records * size;
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    r.p50_us = all[all.size() / 2];
    r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return r;
}

// One producer appends batches of `batch` `size`-byte values with AppendBatch
// (the path a group commit, a ProduceBatch and the Raft storage take) for about
// `seconds` or `max_bytes`; the time includes the final Close.
Result AppendBatches(const std::filesystem::path& dir, Durability durability, size_t size,
                     size_t batch, double seconds, uint64_t max_bytes) {
  std::unique_ptr<Log> log = OpenLog(dir, durability);
  const std::vector<Record> records(batch, Record{Payload(size, size), 0, 0, 0});
  uint64_t appended = 0;
  std::vector<double> latencies;
  const auto start = Clock::now();
  while (Seconds(Clock::now() - start) < seconds && appended * size < max_bytes) {
    const auto t0 = Clock::now();
    if (!log->AppendBatch(records).ok()) Die("append batch failed");
    latencies.push_back(Seconds(Clock::now() - t0) * 1e6);
    appended += batch;
  }
  const Log::Stats stats = log->GetStats();
  if (!log->Close().ok()) Die("close failed");
  Result r;
  if (stats.syncs > 0)
    r.records_per_sync = static_cast<double>(stats.records) / static_cast<double>(stats.syncs);
  r.seconds = Seconds(Clock::now() - start);
  r.records = appended;
  r.value_bytes = appended * size;
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    r.p50_us = latencies[latencies.size() / 2];
    r.p99_us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  }
  return r;
}

// Reads every record of a log written with `never`, from the page cache.
Result ReadAll(const std::filesystem::path& dir, size_t size, int readers, double seconds) {
  Append(dir, *Durability::Parse("never"), size, 1, seconds, 256ull << 20);
  Options options;
  options.durability = *Durability::Parse("never");
  auto log = Log::Open(dir, options);
  if (!log.ok()) Die(log.status().ToString());
  const uint64_t n = (*log)->NextOffset();
  std::atomic<uint64_t> read{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(readers);
  for (int t = 0; t < readers; ++t) {
    threads.emplace_back([&, t] {
      // Each reader walks the whole log from a different starting point.
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t off = (i + t * n / readers) % n;
        auto rec = (*log)->Read(off);
        if (!rec.ok() || rec->value.size() != size) Die("read failed");
        read.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  Result r;
  r.seconds = Seconds(Clock::now() - start);
  r.records = read.load();
  r.value_bytes = r.records * size;
  (void)(*log)->Close();
  std::filesystem::remove_all(dir);
  return r;
}

void PrintHeader() {
  std::printf("%-20s %6s %10s %8s %9s %9s %6s  %-17s %8s %8s %8s\n", "case", "value", "records/s",
              "MB/s", "disk MB/s", "limit", "ratio", "limit kind", "p50 us", "p99 us", "rec/sync");
}

void Print(const std::string& name, size_t size, const Result& r, double limit,
           const std::string& limit_name) {
  const double rps = static_cast<double>(r.records) / r.seconds;
  const double mbs = static_cast<double>(r.value_bytes) / r.seconds / 1e6;
  const double disk = rps * static_cast<double>(size + kOverhead) / 1e6;
  auto fmt = [](double v, const char* f, bool show) {
    char buf[32] = "-";
    if (show) std::snprintf(buf, sizeof(buf), f, v);
    return std::string(buf);
  };
  std::printf("%-20s %6zu %10.0f %8.1f %9.1f %9s %6s  %-17s %8s %8s %8s\n", name.c_str(), size, rps,
              mbs, disk, fmt(limit, "%.2f", limit > 0).c_str(),
              fmt(disk / limit, "%.2fx", limit > 0).c_str(), limit_name.c_str(),
              fmt(r.p50_us, "%.1f", r.p99_us > 0).c_str(),
              fmt(r.p99_us, "%.1f", r.p99_us > 0).c_str(),
              fmt(r.records_per_sync, "%.1f", r.records_per_sync > 0).c_str());
  std::fflush(stdout);
}

Config ParseFlags(int argc, char** argv) {
  Config c;
  const char* tmp = getenv("TMPDIR");
  c.dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
          ("proglog-bench-log-" + std::to_string(getpid()));
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--dir") {
      c.dir = std::filesystem::path(value()) / ("proglog-bench-log-" + std::to_string(getpid()));
    } else if (a == "--seconds") {
      c.seconds = std::stod(value());
    } else if (a == "--max-mib") {
      c.max_mib = std::stoull(value());
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: proglog-bench-log [--dir D] [--seconds S per case] [--max-mib N per case]\n");
      std::exit(0);
    } else {
      Die("unknown flag " + a + " (try --help)");
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  // As the proglog binary does (server/main.cc): no abseil mutex deadlock
  // detection, which Debian's abseil leaves on and which costs every lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const Config config = ParseFlags(argc, argv);
  std::error_code ec;
  std::filesystem::create_directories(config.dir, ec);
  if (ec) Die("cannot create " + config.dir.string() + ": " + ec.message());
  const std::filesystem::path probe = config.dir / "probe";
  const std::filesystem::path logdir = config.dir / "log";
  const double t = config.seconds;
  const uint64_t cap = config.max_mib << 20;  // bytes per case at most

  std::printf("proglog-bench-log in %s, %.1f s per case, at most %llu MiB per case\n",
              config.dir.c_str(), t, static_cast<unsigned long long>(config.max_mib));
  std::printf(
      "Limits are probed on the same disk before and after each case; the better is used.\n"
      "disk MB/s counts stored bytes (value + 28 B framing); ratio = disk MB/s / limit.\n\n");
  PrintHeader();
  for (size_t size : {size_t{100}, size_t{1024}, size_t{64} * 1024}) {
    const uint64_t frame = size + kOverhead;
    // The disk is shared and noisy: probe the limit before and after each case
    // and rate the case against the better of the two.
    auto rated = [&](const char* name, const char* policy, int producers, auto probe_limit,
                     const char* limit_name) {
      const double before = probe_limit();
      const Result r = Append(logdir, *Durability::Parse(policy), size, producers, t, cap);
      const double after = probe_limit();
      Print(name, size, r, std::max(before, after), limit_name);
    };
    auto raw = [&] { return RawSequentialWrite(probe, t, cap); };
    auto sync1 = [&] { return BatchedFdatasync(probe, frame, t / 2); };
    auto sync16 = [&] { return BatchedFdatasync(probe, 16 * frame, t / 2); };
    rated("append never", "never", 1, raw, "raw-seq-write");
    rated("append interval:100", "interval:100", 1, raw, "raw-seq-write");
    rated("append always x1", "always", 1, sync1, "fdatasync 1 rec");
    rated("append always x16", "always", 16, sync16, "fdatasync 16 rec");
    // Batches of about 256 KiB of values, as a ProduceBatch or a group commit brings.
    const size_t batch = std::max<size_t>(1, (256 << 10) / size);
    for (const char* policy : {"never", "always"}) {
      const double before = raw();
      const Result r = AppendBatches(logdir, *Durability::Parse(policy), size, batch, t, cap);
      const double after = raw();
      Print(std::string("batch ") + policy + " x" + std::to_string(batch), size, r,
            std::max(before, after), "raw-seq-write");
      std::printf("%-20s %6s %.3f us per record\n", "", "",
                  r.seconds * 1e6 / static_cast<double>(r.records));
    }
  }
  for (size_t size : {size_t{100}, size_t{1024}, size_t{64} * 1024}) {
    Print("read x1 (page cache)", size, ReadAll(logdir, size, 1, t / 2), 0, "-");
    Print("read x4 (page cache)", size, ReadAll(logdir, size, 4, t / 2), 0, "-");
  }
  std::filesystem::remove_all(config.dir, ec);
  return 0;
}
