#include "core/telemetry/metrics.h"

#include <thread>
#include <vector>

#include "core/telemetry/process_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proglog::telemetry {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RegistryTest, RendersCountersWithHelpTypeAndLabels) {
  Registry registry;
  registry.GetCounter("requests_total", "Requests.", {{"method", "Produce"}})->Increment(3);
  registry.GetCounter("requests_total", "Requests.", {{"method", "Consume"}})->Increment();
  EXPECT_EQ(registry.RenderText(),
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{method=\"Consume\"} 1\n"
            "requests_total{method=\"Produce\"} 3\n");
}

TEST(RegistryTest, SameNameAndLabelsReturnTheSameMetric) {
  Registry registry;
  Counter* a = registry.GetCounter("x_total", "X.", {{"k", "v"}});
  EXPECT_EQ(a, registry.GetCounter("x_total", "X.", {{"k", "v"}}));
  EXPECT_NE(a, registry.GetCounter("x_total", "X.", {{"k", "w"}}));
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.GetGauge("g", "Line one\\two\nthree", {{"path", "a\"b\\c\nd"}})->Set(1.5);
  const std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("# HELP g Line one\\\\two\\nthree\n"));
  EXPECT_THAT(text, HasSubstr("g{path=\"a\\\"b\\\\c\\nd\"} 1.5\n"));
}

TEST(RegistryTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  Histogram* h = registry.GetHistogram("latency_seconds", "Latency.", {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.1);  // on the bound: counted in le="0.1"
  h->Observe(0.5);
  h->Observe(7);
  EXPECT_EQ(registry.RenderText(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.1\"} 2\n"
            "latency_seconds_bucket{le=\"1\"} 3\n"
            "latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "latency_seconds_sum 7.65\n"
            "latency_seconds_count 4\n");
}

TEST(RegistryTest, CollectorsReportUntilTheirHandleIsGone) {
  Registry registry;
  {
    CollectorHandle handle = registry.AddCollector([](std::vector<FamilySnapshot>* out) {
      out->push_back({"depth", "Queue depth.", MetricType::kGauge, {{{}, 42}}, {}});
    });
    EXPECT_THAT(registry.RenderText(), HasSubstr("depth 42\n"));
  }
  EXPECT_THAT(registry.RenderText(), Not(HasSubstr("depth")));
}

TEST(RegistryTest, FamiliesOfTheSameNameFromSeveralCollectorsAreMerged) {
  Registry registry;
  auto report = [](const char* status, double n) {
    return [status, n](std::vector<FamilySnapshot>* out) {
      out->push_back({"members", "Members.", MetricType::kGauge, {{{{"status", status}}, n}}, {}});
    };
  };
  CollectorHandle a = registry.AddCollector(report("alive", 2));
  CollectorHandle b = registry.AddCollector(report("failed", 1));
  EXPECT_EQ(registry.RenderText(),
            "# HELP members Members.\n# TYPE members gauge\n"
            "members{status=\"alive\"} 2\nmembers{status=\"failed\"} 1\n");
}

TEST(RegistryTest, ConcurrentIncrementsAreAllCounted) {
  Registry registry;
  Counter* counter = registry.GetCounter("c_total", "C.");
  Histogram* histogram = registry.GetHistogram("h", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        counter->Increment();
        histogram->Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter->Value(), 400000u);
  EXPECT_EQ(histogram->Read().count, 400000u);
}

TEST(ProcessMetricsTest, ReportsTheStandardProcessFamilies) {
  std::vector<FamilySnapshot> families;
  CollectProcessMetrics(&families);
  std::vector<std::string> names;
  for (const auto& family : families) {
    names.push_back(family.name);
    EXPECT_GT(family.samples.at(0).value, 0) << family.name;
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"process_cpu_seconds_total",
                                              "process_resident_memory_bytes", "process_open_fds",
                                              "process_max_fds", "process_start_time_seconds"}));
}

}  // namespace
}  // namespace proglog::telemetry
