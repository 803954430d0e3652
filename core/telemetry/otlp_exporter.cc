#include "core/telemetry/otlp_exporter.h"

#include <curl/curl.h>

#include <array>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace proglog::telemetry {
namespace {

// The encoding is written straight into one string: a generic JSON tree cost
// more than the rest of a sampled request together (about 140k instructions a
// span with curl), and the shape of an ExportTraceServiceRequest is fixed.

// Appends `text` as a JSON string (quoted, escaped; bytes >= 0x80 pass through:
// the values are UTF-8).
void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xf]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// `"key":"<hex>"`: ids are hex strings in OTLP/JSON.
template <size_t N>
void AppendHexField(std::string_view key, const std::array<uint8_t, N>& bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  out->append(key);
  out->append("\":\"");
  for (const uint8_t b : bytes) {
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 0xf]);
  }
  out->push_back('"');
}

void AppendStringAttribute(std::string_view key, std::string_view value, std::string* out) {
  out->append("{\"key\":");
  AppendJsonString(key, out);
  out->append(",\"value\":{\"stringValue\":");
  AppendJsonString(value, out);
  out->append("}}");
}

bool IsZero(const SpanId& id) {
  for (const uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

void AppendSpan(const SpanData& span, std::string* out) {
  out->push_back('{');
  AppendHexField("traceId", span.context.trace_id, out);
  out->push_back(',');
  AppendHexField("spanId", span.context.span_id, out);
  if (!IsZero(span.parent_span_id)) {
    out->push_back(',');
    AppendHexField("parentSpanId", span.parent_span_id, out);
  }
  if (!span.context.trace_state.empty()) {
    out->append(",\"traceState\":");
    AppendJsonString(span.context.trace_state, out);
  }
  out->append(",\"name\":");
  AppendJsonString(span.name, out);
  // 64-bit integers are strings in the protobuf JSON mapping.
  absl::StrAppend(out, ",\"kind\":", static_cast<int>(span.kind), ",\"startTimeUnixNano\":\"",
                  span.start_unix_nanos, "\",\"endTimeUnixNano\":\"", span.end_unix_nanos,
                  "\",\"attributes\":[");
  bool first = true;
  for (const SpanAttribute& attribute : span.attributes) {
    if (!first) out->push_back(',');
    first = false;
    if (attribute.int_value.has_value()) {
      out->append("{\"key\":");
      AppendJsonString(attribute.key, out);
      absl::StrAppend(out, ",\"value\":{\"intValue\":\"", *attribute.int_value, "\"}}");
    } else {
      AppendStringAttribute(attribute.key, attribute.string_value, out);
    }
  }
  // Status codes: 0 UNSET, 1 OK, 2 ERROR.
  if (span.error) {
    out->append("],\"status\":{\"code\":2,\"message\":");
    AppendJsonString(span.status_message, out);
    out->append("}}");
  } else {
    out->append("],\"status\":{\"code\":0}}");
  }
}

size_t DiscardBody(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

}  // namespace

std::string EncodeOtlpJson(const TracingConfig& config, const std::vector<SpanData>& spans) {
  std::string out;
  out.reserve(256 + 512 * spans.size());
  out.append("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
  AppendStringAttribute("service.name", config.service_name, &out);
  for (const auto& [key, value] : config.resource_attributes) {
    out.push_back(',');
    AppendStringAttribute(key, value, &out);
  }
  out.append("]},\"scopeSpans\":[{\"scope\":{\"name\":\"proglog\"},\"spans\":[");
  bool first = true;
  for (const SpanData& span : spans) {
    if (!first) out.push_back(',');
    first = false;
    AppendSpan(span, &out);
  }
  out.append("]}]}]}");
  return out;
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
  Connection connection;
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
    if (Send(batch, &connection)) {
      exported_->Increment(batch.size());
    } else {
      export_requests_failed_->Increment();
      dropped_export_failed_->Increment(batch.size());
    }
  }
}

bool OtlpExporter::Send(const std::vector<SpanData>& batch, Connection* connection) {
  const std::string body = EncodeOtlpJson(config_, batch);
  if (connection->curl == nullptr) {
    // One handle for the thread's life: curl keeps the connection to the
    // collector open between batches instead of connecting for each.
    connection->curl = curl_easy_init();
    if (connection->curl == nullptr) return false;
    connection->headers = curl_slist_append(nullptr, "Content-Type: application/json");
    CURL* curl = connection->curl;
    curl_easy_setopt(curl, CURLOPT_URL, config_.traces_endpoint.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, connection->headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.export_timeout_ms));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  }
  CURL* curl = connection->curl;
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  const CURLcode result = curl_easy_perform(curl);
  long http_code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_code);
  return result == CURLE_OK && http_code >= 200 && http_code < 300;
}

OtlpExporter::Connection::~Connection() {
  if (headers != nullptr) curl_slist_free_all(headers);
  if (curl != nullptr) curl_easy_cleanup(curl);
}

}  // namespace proglog::telemetry
