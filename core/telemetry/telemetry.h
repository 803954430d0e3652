// core/telemetry: what a process exposes about itself to operators. Three
// parts, usable alone:
//   metrics.h        a Prometheus registry (lock-free updates) and its text format;
//   trace.h          W3C trace context, sampling, spans;
//   otlp_exporter.h  batched OTLP/HTTP (JSON) export of spans.
// This header ties them to a node: Telemetry::Start serves a registry (the
// node's, plus process_* metrics and the process-wide series of the default
// registry) on /metrics with /healthz and /readyz probes, and starts the
// tracer and its exporter when an endpoint is set.
//
// telemetry depends on nothing else of ours, so any component may record into
// it.
//
// Thread-safety: all methods are thread-safe.
#ifndef PROGLOG_CORE_TELEMETRY_TELEMETRY_H_
#define PROGLOG_CORE_TELEMETRY_TELEMETRY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "core/telemetry/metrics.h"
#include "core/telemetry/otlp_exporter.h"
#include "core/telemetry/trace.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace proglog::telemetry {

struct Settings {
  // "host:port" serving /metrics, /healthz and /readyz (port 0 picks one).
  // Empty: no HTTP endpoint (metrics are still recorded).
  std::string metrics_addr;
  // Tracing is on when tracing.traces_endpoint is set.
  TracingConfig tracing;
};

// Serves `registry` in the Prometheus text format on GET /metrics, 200 on
// /healthz while running, and 200 on /readyz when `ready` returns true (503
// otherwise). Uses cpp-httplib with a small thread pool.
class MetricsEndpoint {
 public:
  // Binds `address` ("host:port"); Unavailable if it cannot. `registry` is
  // borrowed; `ready` is called per /readyz request (null: always ready).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& address,
                                                                Registry* registry,
                                                                std::function<bool()> ready);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // "host:port" actually bound.
  const std::string& Address() const { return address_; }

 private:
  MetricsEndpoint() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string address_;
};

class Telemetry {
 public:
  // Starts the endpoint (if metrics_addr is set) serving `registry` and the
  // tracer (if an endpoint is set), which is this Telemetry's alone: the owner
  // hands GetTracer() to what it traces (a node to its server).
  // Adds to `registry` (borrowed, must outlive this) the process_* metrics,
  // the exporter's counters and, unless it is the default registry itself,
  // the default registry's series (process-wide ones, such as gRPC's log
  // lines). Null: the default registry.
  static absl::StatusOr<std::unique_ptr<Telemetry>> Start(const Settings& settings,
                                                          Registry* registry = nullptr);
  // Flushes spans, stops the endpoint. Whatever uses GetTracer() must have
  // stopped.
  ~Telemetry();

  // /readyz answers 200 once set (the node is serving).
  void SetReady(bool ready) { ready_.store(ready); }
  // "" without an endpoint.
  std::string MetricsAddress() const { return endpoint_ ? endpoint_->Address() : ""; }
  // Null without a trace endpoint.
  Tracer* GetTracer() const { return tracer_.get(); }

 private:
  Telemetry() = default;
  std::atomic<bool> ready_{false};
  CollectorHandle process_metrics_;
  CollectorHandle process_wide_metrics_;
  std::unique_ptr<OtlpExporter> exporter_;
  std::unique_ptr<Tracer> tracer_;
  std::unique_ptr<MetricsEndpoint> endpoint_;
};

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_TELEMETRY_H_
