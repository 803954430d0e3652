// The HTTP sides of telemetry against real sockets: the metrics endpoint read by
// an HTTP client, and the OTLP exporter posting to a real HTTP receiver.
#include <chrono>
#include <string>
#include <thread>

#include "core/telemetry/otlp_exporter.h"
#include "core/telemetry/telemetry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/testing/otlp_receiver.h"

namespace proglog::telemetry {
namespace {

using ::testing::HasSubstr;

// Polls `condition` until it holds or 30 s pass (a shared machine may be slow).
template <typename Condition>
bool Eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

TEST(MetricsEndpointTest, ServesTheRegistryAndTheProbes) {
  Registry registry;
  registry.GetCounter("served_total", "Served.")->Increment(7);
  std::atomic<bool> ready{false};
  auto endpoint = MetricsEndpoint::Start("127.0.0.1:0", &registry, [&] { return ready.load(); });
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  httplib::Client client("127.0.0.1", PortOf((*endpoint)->Address()));
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  EXPECT_THAT(metrics->body, HasSubstr("served_total 7\n"));
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  ready = true;
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  EXPECT_EQ(client.Get("/nothing")->status, 404);
}

TEST(MetricsEndpointTest, ABadOrBusyAddressIsAnError) {
  Registry registry;
  EXPECT_EQ(MetricsEndpoint::Start("no-port", &registry, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsEndpoint::Start("127.0.0.1:0", &registry, nullptr);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(MetricsEndpoint::Start((*first)->Address(), &registry, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
}

using ::proglog::testing::OtlpReceiver;

// Spans in all the bodies the receiver was sent.
size_t SpanCount(OtlpReceiver& receiver) {
  size_t n = 0;
  for (const std::string& body : receiver.Bodies()) {
    n += nlohmann::json::parse(body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size();
  }
  return n;
}

SpanData SomeSpan() {
  SpanData span;
  span.context = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  span.name = "svc/Method";
  return span;
}

TEST(OtlpExporterTest, DeliversSpansInBatchesToTheReceiver) {
  OtlpReceiver receiver;
  Registry registry;
  TracingConfig config;
  config.traces_endpoint = receiver.Url();
  config.max_export_batch_size = 10;
  config.schedule_delay_ms = 20;
  OtlpExporter exporter(config, &registry);
  for (int i = 0; i < 25; ++i) exporter.Export(SomeSpan());
  EXPECT_TRUE(Eventually([&] { return SpanCount(receiver) == 25; }));
  exporter.Shutdown();
  EXPECT_EQ(registry.GetCounter("proglog_trace_spans_exported_total", "")->Value(), 25u);
  EXPECT_THAT(receiver.ContentTypes(), ::testing::Each("application/json"));
}

TEST(OtlpExporterTest, CountsSpansItCouldNotDeliver) {
  Registry registry;
  TracingConfig config;
  {
    // A port nobody listens on: bound and closed again.
    OtlpReceiver gone;
    config.traces_endpoint = gone.Url();
  }
  config.schedule_delay_ms = 10;
  config.max_queue_size = 4;
  OtlpExporter exporter(config, &registry);
  for (int i = 0; i < 100; ++i) exporter.Export(SomeSpan());
  exporter.Shutdown();
  const uint64_t queue_full =
      registry.GetCounter("proglog_trace_spans_dropped_total", "", {{"reason", "queue_full"}})
          ->Value();
  const uint64_t failed =
      registry.GetCounter("proglog_trace_spans_dropped_total", "", {{"reason", "export_failed"}})
          ->Value();
  EXPECT_GT(queue_full, 0u);
  EXPECT_EQ(queue_full + failed, 100u);
  EXPECT_EQ(registry.GetCounter("proglog_trace_spans_exported_total", "")->Value(), 0u);
}

}  // namespace
}  // namespace proglog::telemetry
