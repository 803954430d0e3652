// core/telemetry/otlp_exporter: sends ended spans to an OpenTelemetry
// collector over OTLP/HTTP with the JSON encoding (Content-Type
// application/json), in batches, from one background thread that keeps its
// connection to the collector open between batches.
//
// Export() never blocks on the network: it appends to a bounded queue and
// returns. A full queue drops the span, and a failed request drops its batch;
// both are counted in proglog_trace_spans_dropped_total{reason}, exported
// spans in proglog_trace_spans_exported_total.
//
// Thread-safety: Export() is thread-safe; Shutdown() once, from any thread.
#ifndef PROGLOG_CORE_TELEMETRY_OTLP_EXPORTER_H_
#define PROGLOG_CORE_TELEMETRY_OTLP_EXPORTER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/telemetry/metrics.h"
#include "core/telemetry/trace.h"

struct curl_slist;

namespace proglog::telemetry {

// The OTLP/JSON body (an ExportTraceServiceRequest) for `spans`.
std::string EncodeOtlpJson(const TracingConfig& config, const std::vector<SpanData>& spans);

class OtlpExporter final : public SpanSink {
 public:
  // Starts the export thread. `metrics` (borrowed, may be null) receives the
  // export and drop counters.
  OtlpExporter(TracingConfig config, Registry* metrics);
  ~OtlpExporter() override { Shutdown(); }
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void Export(SpanData span) override;
  // Sends what is queued (one last attempt) and stops the thread. Idempotent.
  void Shutdown();

 private:
  // The export thread's curl handle (kept, so the connection is reused).
  struct Connection {
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();
    void* curl = nullptr;  // CURL*
    curl_slist* headers = nullptr;
  };

  void Run();
  // POSTs one batch on `connection` (opened on first use); false if the
  // collector did not accept it.
  bool Send(const std::vector<SpanData>& batch, Connection* connection);

  const TracingConfig config_;
  Counter* exported_ = nullptr;
  Counter* dropped_queue_full_ = nullptr;
  Counter* dropped_export_failed_ = nullptr;
  Counter* export_requests_failed_ = nullptr;
  absl::Mutex mu_;
  std::vector<SpanData> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_OTLP_EXPORTER_H_
