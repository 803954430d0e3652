// core/telemetry/trace: distributed tracing with W3C Trace Context and
// OpenTelemetry's data model, exported over OTLP/HTTP (otlp_exporter.h).
//
// A server continues the caller's trace: it parses the `traceparent` and
// `tracestate` request headers (ParseTraceparent), asks the Tracer for a server
// span (sampled by the configured sampler, honouring the caller's sampled flag
// with the parent-based samplers), adds child spans for the work inside (the
// Raft commit, the fsync), and ends them. An ended sampled span is handed to
// the exporter's bounded queue; a span that is not sampled costs one random
// number and nothing else.
//
// While a span is the "current" one on a thread (ScopedSpanContext), log lines
// written on that thread carry its trace and span ids (CurrentSpanContext()).
//
// Thread-safety: Tracer is thread-safe; a Span is used by one thread at a time.
#ifndef PROGLOG_CORE_TELEMETRY_TRACE_H_
#define PROGLOG_CORE_TELEMETRY_TRACE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace proglog::telemetry {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;
  std::string trace_state;  // the caller's `tracestate`, passed on unchanged

  bool IsValid() const;
  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
};

// Parses a W3C `traceparent` header ("00-<32 hex>-<16 hex>-<2 hex>"); nullopt
// when it is malformed or carries an all-zero id (the caller's trace is then
// not continued, as the specification requires).
std::optional<SpanContext> ParseTraceparent(std::string_view header);
// Formats `context` as a version-00 `traceparent` header.
std::string FormatTraceparent(const SpanContext& context);

enum class SamplerKind {
  kAlwaysOn,
  kAlwaysOff,
  kTraceIdRatio,
  kParentBasedAlwaysOn,
  kParentBasedAlwaysOff,
  kParentBasedTraceIdRatio,
};

// The OTEL_TRACES_SAMPLER names: always_on, always_off, traceidratio,
// parentbased_always_on, parentbased_always_off, parentbased_traceidratio.
absl::StatusOr<SamplerKind> ParseSamplerKind(std::string_view name);

struct TracingConfig {
  // Where spans are POSTed (a full URL such as http://collector:4318/v1/traces).
  // Empty: tracing is off.
  std::string traces_endpoint;
  // The service.name resource attribute. Default: "proglog".
  std::string service_name = "proglog";
  // Default: parentbased_always_on, the OpenTelemetry default.
  SamplerKind sampler = SamplerKind::kParentBasedAlwaysOn;
  // Probability for the ratio samplers, in [0, 1]. Default: 1.
  double sampler_ratio = 1.0;
  // Extra resource attributes (for example service.instance.id = node name).
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  // Spans waiting for export beyond this are dropped (and counted). Default: 2048.
  size_t max_queue_size = 2048;
  // Spans per export request. Default: 512.
  size_t max_export_batch_size = 512;
  // How long spans may wait before a partial batch is sent. Default: 1 s.
  int schedule_delay_ms = 1000;
  // How long one export request may take. Default: 5 s.
  int export_timeout_ms = 5000;
};

// Fills `config` from the OpenTelemetry environment variables that are set:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else
// OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"), OTEL_SERVICE_NAME,
// OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG. InvalidArgument for a bad
// sampler name or ratio. `getenv` is injectable for tests.
absl::Status ApplyOtelEnvironment(TracingConfig* config,
                                  const char* (*getenv)(const char*) = nullptr);
// The traces URL for an OTLP/HTTP base endpoint ("http://host:4318" ->
// "http://host:4318/v1/traces").
std::string TracesUrlFromBase(std::string_view base_endpoint);

enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

struct SpanAttribute {
  std::string key;
  std::string string_value;
  std::optional<int64_t> int_value;  // set: an integer attribute
};

// What the exporter receives for one ended span.
struct SpanData {
  SpanContext context;
  SpanId parent_span_id{};  // all zero: a root span
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_unix_nanos = 0;
  uint64_t end_unix_nanos = 0;
  bool error = false;  // OTLP status code ERROR, else UNSET
  std::string status_message;
  std::vector<SpanAttribute> attributes;
};

// Receives ended sampled spans; must not block (OtlpExporter queues them).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void Export(SpanData span) = 0;
};

class Tracer;

// A span being recorded. Ends (and is exported) at End() or destruction.
// A non-recording span (not sampled) ignores everything but still has a
// context to pass on.
class Span {
 public:
  ~Span() { End(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  bool IsRecording() const { return sink_ != nullptr; }
  const SpanContext& Context() const { return data_.context; }
  void SetAttribute(std::string key, std::string value);
  void SetAttribute(std::string key, int64_t value);
  // Marks the span failed, with the gRPC code name or error message.
  void SetError(std::string message);
  // Records the end time and hands the span to the exporter. Idempotent.
  void End();

 private:
  friend class Tracer;
  Span() = default;
  SpanData data_;
  SpanSink* sink_ = nullptr;  // null: not recording, or ended
};

class Tracer {
 public:
  // `sink` is borrowed and must outlive the tracer's spans.
  Tracer(SamplerKind sampler, double ratio, SpanSink* sink);

  // A server span continuing `parent` (the caller's context, if any).
  std::unique_ptr<Span> StartServerSpan(std::string name, const std::optional<SpanContext>& parent);
  // The server span of an RPC, named "<service>/<method>"; null when it would
  // neither be recorded nor carry a context for log lines (not sampled and no
  // caller's trace). The sampling decision comes first, so the common
  // unsampled request allocates nothing and builds no name.
  std::unique_ptr<Span> StartRpcServerSpan(std::string_view service, std::string_view method,
                                           const std::optional<SpanContext>& parent);
  // A child span of `parent` in the same trace; recording only if the parent is.
  std::unique_ptr<Span> StartChildSpan(std::string name, const Span& parent);
  // Exports at once a finished child span of `parent` that ran from
  // `start_unix_nanos` to `end_unix_nanos` (work timed by someone else, such
  // as a group commit's fsync). Nothing if `parent` is not recording.
  void RecordChildSpan(std::string name, const Span& parent, uint64_t start_unix_nanos,
                       uint64_t end_unix_nanos);

 private:
  bool ShouldSample(const std::optional<SpanContext>& parent, const TraceId& trace_id) const;
  // StartServerSpan once the trace id and the sampling decision are known.
  std::unique_ptr<Span> StartServerSpanSampled(std::string name,
                                               const std::optional<SpanContext>& parent,
                                               const TraceId& trace_id, bool sampled);

  const SamplerKind sampler_;
  const double ratio_;
  SpanSink* const sink_;
};

// The span context current on this thread, if any (for log lines).
const SpanContext* CurrentSpanContext();

// Makes `context` current on this thread for the scope's lifetime.
class ScopedSpanContext {
 public:
  explicit ScopedSpanContext(const SpanContext* context);
  ~ScopedSpanContext();
  ScopedSpanContext(const ScopedSpanContext&) = delete;
  ScopedSpanContext& operator=(const ScopedSpanContext&) = delete;

 private:
  const SpanContext* previous_;
};

uint64_t UnixNanosNow();

// When an fsync ran, in Unix nanoseconds.
struct FsyncTiming {
  uint64_t start_unix_nanos = 0;
  uint64_t end_unix_nanos = 0;
};

// Group commit shares one fsync between many appends; these thread-locals let
// the fsync's timing reach each request's span without a lock. The storage log
// notes, on the appending thread, each fsync that made its appends durable,
// with the log offset it made durable up to (NoteFsync). The thread that
// completes the requests is the same one (the single node's group committer;
// a cluster's Raft driver thread, which persists and then applies): it finds
// the fsync that covered a request's last offset (NotedFsyncCovering) and
// makes it current while it completes that request (ScopedFsyncTiming), whose
// handler reads it (CurrentFsyncTiming) to add an `fsync` span under its
// commit span. ScopedFsyncCovering does both lazily: the ring (and its
// fallback, for fsyncs another thread noted) is searched only when a handler
// asks, that is, for a sampled request. The thread remembers its last
// kNotedFsyncs fsyncs; older ones are forgotten (that request then gets no fsync span).
inline constexpr size_t kNotedFsyncs = 64;
// `durable_end`: offsets below it are durable after this fsync.
void NoteFsync(uint64_t durable_end, const FsyncTiming& timing);
// The earliest fsync noted on this thread that made `offset` durable, if this
// thread still remembers it.
std::optional<FsyncTiming> NotedFsyncCovering(uint64_t offset);
// The fsync of the completions running on this thread; null outside a scope.
const FsyncTiming* CurrentFsyncTiming();

namespace internal {
using FsyncLookup = absl::FunctionRef<std::optional<FsyncTiming>(uint64_t offset)>;

// What CurrentFsyncTiming() returns inside a scope; `covering` is looked up
// (NotedFsyncCovering, then `fallback` if set) on the first call.
struct FsyncScope {
  const FsyncTiming* timing = nullptr;
  std::optional<uint64_t> covering;
  std::optional<FsyncLookup> fallback;
  FsyncTiming found;
  FsyncScope* previous = nullptr;
};
}  // namespace internal

class ScopedFsyncTiming {
 public:
  // `timing` is borrowed for the scope's lifetime; null: none.
  explicit ScopedFsyncTiming(const FsyncTiming* timing);
  ~ScopedFsyncTiming();
  ScopedFsyncTiming(const ScopedFsyncTiming&) = delete;
  ScopedFsyncTiming& operator=(const ScopedFsyncTiming&) = delete;

 private:
  internal::FsyncScope scope_;
};

// Makes NotedFsyncCovering(offset) current for the scope, searched for only
// if CurrentFsyncTiming() is called in it (on this thread). When this thread
// noted no fsync covering `offset`, `fallback(offset)` is asked instead (for
// fsyncs kept from other threads); it is borrowed for the scope's lifetime and
// called at most once, on this thread.
class ScopedFsyncCovering {
 public:
  explicit ScopedFsyncCovering(uint64_t offset);
  ScopedFsyncCovering(uint64_t offset, internal::FsyncLookup fallback);
  ~ScopedFsyncCovering();
  ScopedFsyncCovering(const ScopedFsyncCovering&) = delete;
  ScopedFsyncCovering& operator=(const ScopedFsyncCovering&) = delete;

 private:
  internal::FsyncScope scope_;
};

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_TRACE_H_
