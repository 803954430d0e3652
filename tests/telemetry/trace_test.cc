#include "core/telemetry/trace.h"

#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/telemetry/otlp_exporter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace proglog::telemetry {
namespace {

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class CollectingSink : public SpanSink {
 public:
  void Export(SpanData span) override { spans.push_back(std::move(span)); }
  std::vector<SpanData> spans;
};

TEST(TraceparentTest, ParsesAValidHeader) {
  std::optional<SpanContext> context = ParseTraceparent(kTraceparent);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(context->SpanIdHex(), "00f067aa0ba902b7");
  EXPECT_TRUE(context->sampled);
  EXPECT_EQ(FormatTraceparent(*context), kTraceparent);
}

TEST(TraceparentTest, RefusesMalformedHeaders) {
  for (const char* bad :
       {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
}

TEST(TraceparentTest, AcceptsLaterVersionsWithMoreFields) {
  EXPECT_TRUE(
      ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").has_value());
}

TEST(TracerTest, AServerSpanContinuesTheCallersTrace) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kParentBasedAlwaysOn, 1, &sink);
  std::unique_ptr<Span> span = tracer.StartServerSpan("svc/Method", ParseTraceparent(kTraceparent));
  ASSERT_TRUE(span->IsRecording());
  std::unique_ptr<Span> child = tracer.StartChildSpan("commit", *span);
  child->End();
  span->End();
  ASSERT_EQ(sink.spans.size(), 2u);
  const SpanData& server = sink.spans[1];
  EXPECT_EQ(server.context.TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  SpanContext parent;
  parent.span_id = server.parent_span_id;
  EXPECT_EQ(parent.SpanIdHex(), "00f067aa0ba902b7");
  EXPECT_EQ(sink.spans[0].parent_span_id, server.context.span_id);
  EXPECT_EQ(sink.spans[0].context.trace_id, server.context.trace_id);
  EXPECT_LE(server.start_unix_nanos, server.end_unix_nanos);
}

TEST(TracerTest, ARecordedChildSpanKeepsTheTimesItWasGiven) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kAlwaysOn, 1, &sink);
  std::unique_ptr<Span> commit = tracer.StartServerSpan("svc/Method", std::nullopt);
  tracer.RecordChildSpan("fsync", *commit, 1000, 2500);
  ASSERT_EQ(sink.spans.size(), 1u);  // exported at once, before its parent ends
  EXPECT_EQ(sink.spans[0].name, "fsync");
  EXPECT_EQ(sink.spans[0].parent_span_id, commit->Context().span_id);
  EXPECT_EQ(sink.spans[0].context.trace_id, commit->Context().trace_id);
  EXPECT_NE(sink.spans[0].context.span_id, commit->Context().span_id);
  EXPECT_EQ(sink.spans[0].start_unix_nanos, 1000u);
  EXPECT_EQ(sink.spans[0].end_unix_nanos, 2500u);
}

TEST(TracerTest, NoChildIsRecordedUnderAnUnsampledSpan) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kAlwaysOff, 1, &sink);
  std::unique_ptr<Span> commit = tracer.StartServerSpan("svc/Method", std::nullopt);
  tracer.RecordChildSpan("fsync", *commit, 1000, 2500);
  commit->End();
  EXPECT_TRUE(sink.spans.empty());
}

TEST(TracerTest, AnUnsampledRpcWithoutACallersTraceGetsNoSpan) {
  CollectingSink sink;
  Tracer off(SamplerKind::kAlwaysOff, 1, &sink);
  EXPECT_EQ(off.StartRpcServerSpan("svc", "Method", std::nullopt), nullptr);
  // With the caller's trace, the unsampled span still carries it for log lines.
  std::unique_ptr<Span> continued = off.StartRpcServerSpan(
      "svc", "Method", ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  ASSERT_NE(continued, nullptr);
  EXPECT_FALSE(continued->IsRecording());
  EXPECT_EQ(continued->Context().TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  continued->End();
  EXPECT_TRUE(sink.spans.empty());

  Tracer on(SamplerKind::kAlwaysOn, 1, &sink);
  std::unique_ptr<Span> sampled = on.StartRpcServerSpan("svc", "Method", std::nullopt);
  ASSERT_NE(sampled, nullptr);
  EXPECT_TRUE(sampled->IsRecording());
  sampled->End();
  ASSERT_EQ(sink.spans.size(), 1u);
  EXPECT_EQ(sink.spans[0].name, "svc/Method");
  EXPECT_EQ(sink.spans[0].kind, SpanKind::kServer);
}

TEST(FsyncTimingTest, ACoveringScopeFindsTheFsyncWhenAsked) {
  std::thread([] {
    EXPECT_EQ(CurrentFsyncTiming(), nullptr);
    NoteFsync(10, {100, 200});  // offsets [0, 10) durable
    {
      ScopedFsyncCovering covering(3);
      ASSERT_NE(CurrentFsyncTiming(), nullptr);
      EXPECT_EQ(CurrentFsyncTiming()->start_unix_nanos, 100u);
      {
        ScopedFsyncCovering not_durable(15);  // no fsync noted covers it
        EXPECT_EQ(CurrentFsyncTiming(), nullptr);
      }
      EXPECT_EQ(CurrentFsyncTiming()->end_unix_nanos, 200u);  // the outer scope again
    }
    EXPECT_EQ(CurrentFsyncTiming(), nullptr);
  }).join();
}

// The fallback (fsyncs kept from other threads) is asked only when a handler
// asks and this thread noted none that covers the offset.
TEST(FsyncTimingTest, ACoveringScopeAsksItsFallbackOnlyWhenItsThreadKnowsNone) {
  std::thread([] {
    int asked = 0;
    const auto fallback = [&asked](uint64_t offset) -> std::optional<FsyncTiming> {
      ++asked;
      if (offset >= 40) return std::nullopt;
      return FsyncTiming{700, 800};
    };
    { ScopedFsyncCovering never_asked(30, fallback); }
    EXPECT_EQ(asked, 0);
    NoteFsync(10, {100, 200});  // offsets [0, 10) durable
    {
      ScopedFsyncCovering on_this_thread(3, fallback);
      EXPECT_EQ(CurrentFsyncTiming()->start_unix_nanos, 100u);
    }
    EXPECT_EQ(asked, 0);
    {
      ScopedFsyncCovering elsewhere(30, fallback);
      ASSERT_NE(CurrentFsyncTiming(), nullptr);
      EXPECT_EQ(CurrentFsyncTiming()->end_unix_nanos, 800u);  // looked up once
    }
    EXPECT_EQ(asked, 1);
    {
      ScopedFsyncCovering nowhere(50, fallback);
      EXPECT_EQ(CurrentFsyncTiming(), nullptr);
    }
    EXPECT_EQ(asked, 2);
  }).join();
}

// Runs on a thread of its own: the noted fsyncs are per thread.
TEST(FsyncTimingTest, TheFsyncThatFirstCoveredAnOffsetIsFound) {
  std::thread([] {
    EXPECT_FALSE(NotedFsyncCovering(0).has_value());
    NoteFsync(10, {100, 200});  // offsets [0, 10) durable
    NoteFsync(10, {300, 400});  // the same point noted again by another waiter
    NoteFsync(25, {500, 600});  // [10, 25)
    EXPECT_EQ(NotedFsyncCovering(3)->start_unix_nanos, 100u);
    EXPECT_EQ(NotedFsyncCovering(9)->end_unix_nanos, 200u);
    EXPECT_EQ(NotedFsyncCovering(10)->start_unix_nanos, 500u);
    EXPECT_FALSE(NotedFsyncCovering(25).has_value());  // not durable yet
  }).join();
}

TEST(FsyncTimingTest, OnlyTheLastFsyncsAreRemembered) {
  std::thread([] {
    for (uint64_t i = 1; i <= kNotedFsyncs + 1; ++i) NoteFsync(i, {i, i});
    // Fsync 1 is forgotten: whether it or fsync 2 first covered offsets 0 and
    // 1 is unknown, so neither gets one.
    EXPECT_FALSE(NotedFsyncCovering(0).has_value());
    EXPECT_FALSE(NotedFsyncCovering(1).has_value());
    ASSERT_TRUE(NotedFsyncCovering(2).has_value());
    EXPECT_EQ(NotedFsyncCovering(2)->start_unix_nanos, 3u);
  }).join();
  std::thread([] { EXPECT_FALSE(NotedFsyncCovering(0).has_value()); }).join();
}

TEST(FsyncTimingTest, AScopeMakesATimingCurrentOnItsThread) {
  EXPECT_EQ(CurrentFsyncTiming(), nullptr);
  const FsyncTiming timing{1, 2};
  {
    ScopedFsyncTiming scope(&timing);
    EXPECT_EQ(CurrentFsyncTiming(), &timing);
    std::thread([] { EXPECT_EQ(CurrentFsyncTiming(), nullptr); }).join();
  }
  EXPECT_EQ(CurrentFsyncTiming(), nullptr);
}

TEST(TracerTest, ParentBasedSamplerHonoursAnUnsampledCaller) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kParentBasedAlwaysOn, 1, &sink);
  std::unique_ptr<Span> span = tracer.StartServerSpan(
      "svc/Method", ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_FALSE(span->IsRecording());
  // Still in the caller's trace, for log lines.
  EXPECT_EQ(span->Context().TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  span->End();
  EXPECT_TRUE(sink.spans.empty());
}

TEST(TracerTest, RatioSamplerKeepsAboutThatShareOfRootSpans) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kTraceIdRatio, 0.01, &sink);
  for (int i = 0; i < 100000; ++i) tracer.StartServerSpan("svc/Method", std::nullopt);
  // 1% of 100,000 is 1,000; the bounds are far outside any plausible deviation.
  EXPECT_GT(sink.spans.size(), 700u);
  EXPECT_LT(sink.spans.size(), 1300u);
}

TEST(OtelEnvironmentTest, ReadsTheStandardVariables) {
  static std::map<std::string, std::string> env;
  env = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
         {"OTEL_SERVICE_NAME", "svc"},
         {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
         {"OTEL_TRACES_SAMPLER_ARG", "0.25"}};
  auto getenv = +[](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  TracingConfig config;
  ASSERT_TRUE(ApplyOtelEnvironment(&config, getenv).ok());
  EXPECT_EQ(config.traces_endpoint, "http://collector:4318/v1/traces");
  EXPECT_EQ(config.service_name, "svc");
  EXPECT_EQ(config.sampler, SamplerKind::kParentBasedTraceIdRatio);
  EXPECT_EQ(config.sampler_ratio, 0.25);

  env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://other:4318/custom";
  ASSERT_TRUE(ApplyOtelEnvironment(&config, getenv).ok());
  EXPECT_EQ(config.traces_endpoint, "http://other:4318/custom");

  env["OTEL_TRACES_SAMPLER_ARG"] = "2";
  EXPECT_EQ(ApplyOtelEnvironment(&config, getenv).code(), absl::StatusCode::kInvalidArgument);
  env["OTEL_TRACES_SAMPLER_ARG"] = "1";
  env["OTEL_TRACES_SAMPLER"] = "sometimes";
  EXPECT_EQ(ApplyOtelEnvironment(&config, getenv).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OtlpJsonTest, EncodesAnExportTraceServiceRequest) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kAlwaysOn, 1, &sink);
  std::unique_ptr<Span> span = tracer.StartServerSpan("svc/Method", ParseTraceparent(kTraceparent));
  span->SetAttribute("rpc.method", std::string("Method"));
  span->SetAttribute("rpc.grpc.status_code", int64_t{14});
  span->SetError("unavailable");
  span->End();
  TracingConfig config;
  config.service_name = "svc";
  const nlohmann::json body = nlohmann::json::parse(EncodeOtlpJson(config, sink.spans));
  const auto& resource = body["resourceSpans"][0]["resource"]["attributes"][0];
  EXPECT_EQ(resource["key"], "service.name");
  EXPECT_EQ(resource["value"]["stringValue"], "svc");
  const auto& encoded = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(encoded["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(encoded["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(encoded["spanId"].get<std::string>().size(), 16u);
  EXPECT_EQ(encoded["kind"], 2);
  EXPECT_EQ(encoded["status"]["code"], 2);
  EXPECT_EQ(encoded["attributes"][1]["value"]["intValue"], "14");
  EXPECT_TRUE(encoded["startTimeUnixNano"].is_string());
}

TEST(OtlpJsonTest, EscapesStringsAndKeepsUtf8) {
  CollectingSink sink;
  Tracer tracer(SamplerKind::kAlwaysOn, 1, &sink);
  const std::string awkward = "quote \" backslash \\ newline \n tab \t bell \x07 caf\xc3\xa9";
  std::optional<SpanContext> parent = ParseTraceparent(kTraceparent);
  parent->trace_state = "vendor=" + awkward;
  std::unique_ptr<Span> span = tracer.StartServerSpan(awkward, parent);
  span->SetAttribute(awkward, awkward);
  span->SetError(awkward);
  span->End();
  std::unique_ptr<Span> second = tracer.StartServerSpan("plain", std::nullopt);
  second->End();
  TracingConfig config;
  config.service_name = awkward;
  config.resource_attributes = {{"service.instance.id", "n1"}};
  const nlohmann::json body = nlohmann::json::parse(EncodeOtlpJson(config, sink.spans));
  const auto& resource = body["resourceSpans"][0]["resource"]["attributes"];
  ASSERT_EQ(resource.size(), 2u);
  EXPECT_EQ(resource[0]["value"]["stringValue"], awkward);
  EXPECT_EQ(resource[1]["value"]["stringValue"], "n1");
  const auto& spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"];
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]["name"], awkward);
  EXPECT_EQ(spans[0]["traceState"], "vendor=" + awkward);
  EXPECT_EQ(spans[0]["attributes"][0]["key"], awkward);
  EXPECT_EQ(spans[0]["attributes"][0]["value"]["stringValue"], awkward);
  EXPECT_EQ(spans[0]["status"]["message"], awkward);
  // A root span has no parentSpanId, no traceState, an unset status.
  EXPECT_EQ(spans[1]["name"], "plain");
  EXPECT_FALSE(spans[1].contains("parentSpanId"));
  EXPECT_FALSE(spans[1].contains("traceState"));
  EXPECT_EQ(spans[1]["status"]["code"], 0);
  EXPECT_TRUE(spans[1]["attributes"].empty());
}

}  // namespace
}  // namespace proglog::telemetry
