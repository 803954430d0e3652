#include "core/telemetry/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace proglog::telemetry {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<Bucket[]>(upper_bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  // Few buckets: a linear scan beats a binary search and keeps this branch-light.
  size_t i = 0;
  while (i < upper_bounds_.size() && value > upper_bounds_[i]) ++i;
  buckets_[i].count.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].count.load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void CollectorHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCollector(id_);
  registry_ = nullptr;
}

Registry::Family* Registry::FamilyLocked(std::string_view name, std::string_view help,
                                         MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help), type, {}, {}, {}}).first;
  }
  return &it->second;
}

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, MetricType::kCounter)->counters[labels];
  if (slot == nullptr) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, MetricType::kGauge)->gauges[labels];
  if (slot == nullptr) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const std::vector<double>& upper_bounds, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, MetricType::kHistogram)->histograms[labels];
  if (slot == nullptr) slot = std::make_unique<Histogram>(upper_bounds);
  return slot.get();
}

CollectorHandle Registry::AddCollector(Collector collector) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_collector_id_++;
  collectors_.emplace(id, std::make_shared<Collector>(std::move(collector)));
  return CollectorHandle(this, id);
}

void Registry::RemoveCollector(uint64_t id) {
  absl::MutexLock collecting(&collect_mu_);
  absl::MutexLock lock(&mu_);
  collectors_.erase(id);
}

std::vector<FamilySnapshot> Registry::Collect() const {
  absl::MutexLock collecting(&collect_mu_);
  std::vector<FamilySnapshot> out;
  std::vector<std::shared_ptr<Collector>> collectors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) {
      FamilySnapshot snapshot{name, family.help, family.type, {}, {}};
      for (const auto& [labels, counter] : family.counters) {
        snapshot.samples.push_back({labels, static_cast<double>(counter->Value())});
      }
      for (const auto& [labels, gauge] : family.gauges) {
        snapshot.samples.push_back({labels, gauge->Value()});
      }
      for (const auto& [labels, histogram] : family.histograms) {
        snapshot.histograms.emplace_back(labels, histogram->Read());
      }
      out.push_back(std::move(snapshot));
    }
    for (const auto& [id, collector] : collectors_) collectors.push_back(collector);
  }
  for (const auto& collector : collectors) (*collector)(&out);
  // Merge families of the same name (several collectors may report one).
  std::stable_sort(out.begin(), out.end(), [](const FamilySnapshot& a, const FamilySnapshot& b) {
    return a.name < b.name;
  });
  std::vector<FamilySnapshot> merged;
  for (auto& family : out) {
    if (!merged.empty() && merged.back().name == family.name) {
      auto& into = merged.back();
      for (auto& sample : family.samples) into.samples.push_back(std::move(sample));
      for (auto& h : family.histograms) into.histograms.push_back(std::move(h));
    } else {
      merged.push_back(std::move(family));
    }
  }
  return merged;
}

std::string Registry::RenderText() const { return telemetry::RenderText(Collect()); }

Registry* DefaultRegistry() {
  static Registry* const registry = new Registry();  // never destroyed: used until exit
  return registry;
}

namespace {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest text that reads back as `value` ("0.1", not "0.10000000000000001"),
// as Prometheus's own client libraries write numbers.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string FormatLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, key, "=\"", EscapeLabelValue(value), "\"");
  }
  out += "}";
  return out;
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void RenderHistogram(const std::string& name, const Labels& labels,
                     const Histogram::Snapshot& snapshot, std::string* out) {
  // The bucket lines share everything up to the le value: format it once.
  std::string bucket_prefix = absl::StrCat(name, "_bucket{");
  for (const auto& [key, value] : labels) {
    absl::StrAppend(&bucket_prefix, key, "=\"", EscapeLabelValue(value), "\",");
  }
  bucket_prefix += "le=\"";
  for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
    const std::string bound =
        i < snapshot.upper_bounds.size() ? FormatValue(snapshot.upper_bounds[i]) : "+Inf";
    absl::StrAppend(out, bucket_prefix, bound, "\"} ", snapshot.cumulative_counts[i], "\n");
  }
  const std::string plain_labels = FormatLabels(labels);
  absl::StrAppend(out, name, "_sum", plain_labels, " ", FormatValue(snapshot.sum), "\n");
  absl::StrAppend(out, name, "_count", plain_labels, " ", snapshot.count, "\n");
}

}  // namespace

std::string RenderText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (family.samples.empty() && family.histograms.empty()) continue;
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", family.name, " ", std::string(TypeName(family.type)), "\n");
    for (const Sample& sample : family.samples) {
      absl::StrAppend(&out, family.name, FormatLabels(sample.labels), " ",
                      FormatValue(sample.value), "\n");
    }
    for (const auto& [labels, snapshot] : family.histograms) {
      RenderHistogram(family.name, labels, snapshot, &out);
    }
  }
  return out;
}

}  // namespace proglog::telemetry
