#include "core/telemetry/trace.h"

#include <map>
#include <string>
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

}  // namespace
}  // namespace proglog::telemetry
