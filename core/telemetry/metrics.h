// core/telemetry/metrics: a small Prometheus metrics registry and its text
// exposition (format 0.0.4), so that any component can count what it does and
// an operator's Prometheus can scrape it.
//
// Metrics are created once (registration takes the registry's mutex) and
// updated through the returned pointer, which stays valid as long as the
// registry lives. Updating never takes a lock: counters, gauges and histogram
// buckets are relaxed atomics, each on its own cache line, so the produce path
// pays a few uncontended-in-the-common-case atomic adds.
//
// Values that already live elsewhere (a log's next offset, a Raft term) are
// not copied into gauges on every change; their owner registers a Collector,
// which the registry calls at scrape time, and unregisters it (by destroying
// the returned CollectorHandle) before the values go away.
//
// Labels are given at registration. Callers must keep label values bounded (a
// method name, a status code, a peer id), never offsets or client addresses.
//
// Thread-safety: everything here is thread-safe.
#ifndef PROGLOG_CORE_TELEMETRY_METRICS_H_
#define PROGLOG_CORE_TELEMETRY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace proglog::telemetry {

using Labels = std::vector<std::pair<std::string, std::string>>;

class alignas(64) Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class alignas(64) Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed upper bounds (ascending, +Inf implied). Observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  struct alignas(64) Bucket {
    std::atomic<uint64_t> count{0};
  };
  const std::vector<double> upper_bounds_;
  std::unique_ptr<Bucket[]> buckets_;  // upper_bounds_.size() + 1
  alignas(64) std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds, 50 us .. 10 s.
std::vector<double> LatencyBuckets();
// Powers of two from 1 to `max` (for sizes and counts per batch).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// What a Collector reports: one sample per label set (counters and gauges).
struct Sample {
  Labels labels;
  double value = 0;
};
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;
  // Only for kHistogram (not produced by collectors).
  std::vector<std::pair<Labels, Histogram::Snapshot>> histograms;
};

using Collector = std::function<void(std::vector<FamilySnapshot>* out)>;

class Registry;

// Unregisters its collector when destroyed. Movable.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept { *this = std::move(other); }
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle() { Reset(); }
  void Reset();

 private:
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Return the metric with this name and label set, creating it the first time.
  // `name` must be a valid Prometheus metric name (counters end in _total); the
  // same name must always be used with the same type. Never null.
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& upper_bounds, const Labels& labels = {});

  // Calls `collector` at every scrape until the handle is destroyed. The
  // collector runs on the scraping thread and must not block for long; the
  // handle's destructor waits for a running call, so it must not be destroyed
  // while holding a lock the collector takes.
  [[nodiscard]] CollectorHandle AddCollector(Collector collector);

  // Every metric, merged by name and sorted.
  std::vector<FamilySnapshot> Collect() const;
  // The Prometheus text exposition format 0.0.4.
  std::string RenderText() const;

 private:
  friend class CollectorHandle;
  void RemoveCollector(uint64_t id);

  struct Family {
    std::string help;
    MetricType type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family* FamilyLocked(std::string_view name, std::string_view help, MetricType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Held while collectors run, so that RemoveCollector returns only once its
  // collector is no longer running. Never taken under mu_.
  mutable absl::Mutex collect_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<Collector>> collectors_ ABSL_GUARDED_BY(mu_);
  uint64_t next_collector_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// The process-wide registry that /metrics serves and components record into.
Registry* DefaultRegistry();

// Renders `families` in the text format (exposed for tests).
std::string RenderText(const std::vector<FamilySnapshot>& families);

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_METRICS_H_
