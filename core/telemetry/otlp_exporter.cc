#include "core/telemetry/otlp_exporter.h"

#include <curl/curl.h>

#include <utility>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace proglog::telemetry {
namespace {

using nlohmann::json;

json StringAttribute(const std::string& key, const std::string& value) {
  return json{{"key", key}, {"value", {{"stringValue", value}}}};
}

json EncodeSpan(const SpanData& span) {
  json encoded = {
      {"traceId", span.context.TraceIdHex()},
      {"spanId", span.context.SpanIdHex()},
      {"name", span.name},
      {"kind", static_cast<int>(span.kind)},
      // 64-bit integers are strings in the protobuf JSON mapping.
      {"startTimeUnixNano", std::to_string(span.start_unix_nanos)},
      {"endTimeUnixNano", std::to_string(span.end_unix_nanos)},
  };
  SpanContext parent;
  parent.trace_id = span.context.trace_id;
  parent.span_id = span.parent_span_id;
  if (parent.IsValid()) encoded["parentSpanId"] = parent.SpanIdHex();
  if (!span.context.trace_state.empty()) encoded["traceState"] = span.context.trace_state;
  json attributes = json::array();
  for (const SpanAttribute& attribute : span.attributes) {
    if (attribute.int_value.has_value()) {
      attributes.push_back({{"key", attribute.key},
                            {"value", {{"intValue", std::to_string(*attribute.int_value)}}}});
    } else {
      attributes.push_back(StringAttribute(attribute.key, attribute.string_value));
    }
  }
  encoded["attributes"] = std::move(attributes);
  // Status codes: 0 UNSET, 1 OK, 2 ERROR.
  encoded["status"] =
      span.error ? json{{"code", 2}, {"message", span.status_message}} : json{{"code", 0}};
  return encoded;
}

size_t DiscardBody(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

}  // namespace

std::string EncodeOtlpJson(const TracingConfig& config, const std::vector<SpanData>& spans) {
  json resource_attributes = json::array({StringAttribute("service.name", config.service_name)});
  for (const auto& [key, value] : config.resource_attributes) {
    resource_attributes.push_back(StringAttribute(key, value));
  }
  json encoded_spans = json::array();
  for (const SpanData& span : spans) encoded_spans.push_back(EncodeSpan(span));
  json body = {
      {"resourceSpans",
       json::array({{{"resource", {{"attributes", std::move(resource_attributes)}}},
                     {"scopeSpans", json::array({{{"scope", {{"name", "proglog"}}},
                                                  {"spans", std::move(encoded_spans)}}})}}})}};
  return body.dump();
}

OtlpExporter::OtlpExporter(TracingConfig config, Registry* metrics) : config_(std::move(config)) {
  static Registry unused;  // counters nobody scrapes when no registry is given
  Registry* registry = metrics != nullptr ? metrics : &unused;
  constexpr char kDropped[] = "proglog_trace_spans_dropped_total";
  constexpr char kDroppedHelp[] =
      "Sampled spans not delivered to the OTLP endpoint, by reason (queue_full, export_failed).";
  exported_ = registry->GetCounter("proglog_trace_spans_exported_total",
                                   "Spans the OTLP endpoint accepted.");
  dropped_queue_full_ = registry->GetCounter(kDropped, kDroppedHelp, {{"reason", "queue_full"}});
  dropped_export_failed_ =
      registry->GetCounter(kDropped, kDroppedHelp, {{"reason", "export_failed"}});
  export_requests_failed_ = registry->GetCounter("proglog_trace_export_failures_total",
                                                 "OTLP export requests that failed.");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  thread_ = std::thread([this] { Run(); });
}

void OtlpExporter::Export(SpanData span) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_ && queue_.size() < config_.max_queue_size) {
      queue_.push_back(std::move(span));
      return;
    }
  }
  dropped_queue_full_->Increment();
}

void OtlpExporter::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void OtlpExporter::Run() {
  const absl::Duration delay = absl::Milliseconds(config_.schedule_delay_ms);
  const size_t batch_size = config_.max_export_batch_size;
  for (;;) {
    std::vector<SpanData> batch;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, batch_size]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || queue_.size() >= batch_size;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), delay);
      stopping = stopping_;
      const size_t take = std::min(queue_.size(), batch_size);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(take)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
      if (stopping && queue_.empty() && batch.empty()) return;
    }
    if (batch.empty()) continue;
    if (Send(batch)) {
      exported_->Increment(batch.size());
    } else {
      export_requests_failed_->Increment();
      dropped_export_failed_->Increment(batch.size());
    }
  }
}

bool OtlpExporter::Send(const std::vector<SpanData>& batch) {
  const std::string body = EncodeOtlpJson(config_, batch);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return false;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, config_.traces_endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.export_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  const CURLcode result = curl_easy_perform(curl);
  long http_code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result == CURLE_OK && http_code >= 200 && http_code < 300;
}

}  // namespace proglog::telemetry
