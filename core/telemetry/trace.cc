#include "core/telemetry/trace.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace proglog::telemetry {
namespace {

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

template <size_t N>
bool ParseHex(std::string_view text, std::array<uint8_t, N>* out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int high = HexDigit(text[2 * i]);
    const int low = HexDigit(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    (*out)[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return true;
}

std::mt19937_64& Random() {
  thread_local std::mt19937_64 generator(std::random_device{}());
  return generator;
}

template <size_t N>
void FillRandom(std::array<uint8_t, N>* bytes) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t word = Random()();
      for (size_t j = i; j < N && j < i + 8; ++j, word >>= 8) (*bytes)[j] = word & 0xff;
    }
  } while (AllZero(*bytes));
}

// A server span continues its caller's trace, or starts a new one.
TraceId TraceIdFor(const std::optional<SpanContext>& parent) {
  if (parent.has_value()) return parent->trace_id;
  TraceId trace_id;
  FillRandom(&trace_id);
  return trace_id;
}

// The lower 8 bytes of a trace id as a number, as the ratio sampler compares them.
uint64_t TraceIdLow(const TraceId& id) {
  uint64_t value = 0;
  for (size_t i = 8; i < 16; ++i) value = value << 8 | id[i];
  return value;
}

thread_local const SpanContext* current_context = nullptr;
// The last kNotedFsyncs fsyncs noted on this thread, a ring (durable_end
// rises from one to the next).
struct NotedFsync {
  uint64_t durable_end = 0;
  FsyncTiming timing;
};
thread_local std::array<NotedFsync, kNotedFsyncs> noted_fsyncs;
thread_local size_t noted_fsync_count = 0;
thread_local internal::FsyncScope* current_fsync = nullptr;

}  // namespace

bool SpanContext::IsValid() const { return !AllZero(trace_id) && !AllZero(span_id); }
std::string SpanContext::TraceIdHex() const { return Hex(trace_id); }
std::string SpanContext::SpanIdHex() const { return Hex(span_id); }

std::optional<SpanContext> ParseTraceparent(std::string_view header) {
  const absl::string_view stripped =
      absl::StripAsciiWhitespace(absl::string_view(header.data(), header.size()));
  header = std::string_view(stripped.data(), stripped.size());
  // version "-" trace-id "-" parent-id "-" flags; later versions may append fields.
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') {
    return std::nullopt;
  }
  std::array<uint8_t, 1> version{};
  std::array<uint8_t, 1> flags{};
  SpanContext context;
  if (!ParseHex(header.substr(0, 2), &version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && header.size() != 55) return std::nullopt;
  if (version[0] != 0 && header.size() > 55 && header[55] != '-') return std::nullopt;
  if (!ParseHex(header.substr(3, 32), &context.trace_id) ||
      !ParseHex(header.substr(36, 16), &context.span_id) ||
      !ParseHex(header.substr(53, 2), &flags) || !context.IsValid()) {
    return std::nullopt;
  }
  context.sampled = (flags[0] & 1) != 0;
  return context;
}

std::string FormatTraceparent(const SpanContext& context) {
  return absl::StrCat("00-", context.TraceIdHex(), "-", context.SpanIdHex(),
                      context.sampled ? "-01" : "-00");
}

absl::StatusOr<SamplerKind> ParseSamplerKind(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "always_on") return SamplerKind::kAlwaysOn;
  if (lower == "always_off") return SamplerKind::kAlwaysOff;
  if (lower == "traceidratio") return SamplerKind::kTraceIdRatio;
  if (lower == "parentbased_always_on") return SamplerKind::kParentBasedAlwaysOn;
  if (lower == "parentbased_always_off") return SamplerKind::kParentBasedAlwaysOff;
  if (lower == "parentbased_traceidratio") return SamplerKind::kParentBasedTraceIdRatio;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown trace sampler \"", std::string(name),
                   "\" (expected always_on, always_off, traceidratio, parentbased_always_on, "
                   "parentbased_always_off or parentbased_traceidratio)"));
}

std::string TracesUrlFromBase(std::string_view base_endpoint) {
  std::string url(base_endpoint);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/v1/traces";
}

absl::Status ApplyOtelEnvironment(TracingConfig* config, const char* (*getenv)(const char*)) {
  auto get = [getenv](const char* name) -> std::string {
    const char* value = getenv != nullptr ? getenv(name) : std::getenv(name);
    return value == nullptr ? "" : value;
  };
  if (std::string url = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !url.empty()) {
    config->traces_endpoint = url;
  } else if (std::string base = get("OTEL_EXPORTER_OTLP_ENDPOINT"); !base.empty()) {
    config->traces_endpoint = TracesUrlFromBase(base);
  }
  if (std::string name = get("OTEL_SERVICE_NAME"); !name.empty()) config->service_name = name;
  if (std::string sampler = get("OTEL_TRACES_SAMPLER"); !sampler.empty()) {
    absl::StatusOr<SamplerKind> kind = ParseSamplerKind(sampler);
    if (!kind.ok()) return kind.status();
    config->sampler = *kind;
  }
  if (std::string arg = get("OTEL_TRACES_SAMPLER_ARG"); !arg.empty()) {
    double ratio = 0;
    if (!absl::SimpleAtod(arg, &ratio) || ratio < 0 || ratio > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "OTEL_TRACES_SAMPLER_ARG must be a probability in [0, 1], got \"", arg, "\""));
    }
    config->sampler_ratio = ratio;
  }
  return absl::OkStatus();
}

uint64_t UnixNanosNow() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void Span::SetAttribute(std::string key, std::string value) {
  if (sink_ == nullptr) return;
  data_.attributes.push_back(SpanAttribute{std::move(key), std::move(value), std::nullopt});
}

void Span::SetAttribute(std::string key, int64_t value) {
  if (sink_ == nullptr) return;
  data_.attributes.push_back(SpanAttribute{std::move(key), "", value});
}

void Span::SetError(std::string message) {
  if (sink_ == nullptr) return;
  data_.error = true;
  data_.status_message = std::move(message);
}

void Span::End() {
  if (sink_ == nullptr) return;
  SpanSink* sink = std::exchange(sink_, nullptr);
  data_.end_unix_nanos = UnixNanosNow();
  sink->Export(std::move(data_));
}

Tracer::Tracer(SamplerKind sampler, double ratio, SpanSink* sink)
    : sampler_(sampler), ratio_(ratio), sink_(sink) {}

bool Tracer::ShouldSample(const std::optional<SpanContext>& parent, const TraceId& trace_id) const {
  auto by_ratio = [&] {
    if (ratio_ >= 1) return true;
    if (ratio_ <= 0) return false;
    return TraceIdLow(trace_id) < static_cast<uint64_t>(ratio_ * 18446744073709551615.0);
  };
  switch (sampler_) {
    case SamplerKind::kAlwaysOn:
      return true;
    case SamplerKind::kAlwaysOff:
      return false;
    case SamplerKind::kTraceIdRatio:
      return by_ratio();
    case SamplerKind::kParentBasedAlwaysOn:
      return parent.has_value() ? parent->sampled : true;
    case SamplerKind::kParentBasedAlwaysOff:
      return parent.has_value() ? parent->sampled : false;
    case SamplerKind::kParentBasedTraceIdRatio:
      return parent.has_value() ? parent->sampled : by_ratio();
  }
  return false;
}

std::unique_ptr<Span> Tracer::StartServerSpan(std::string name,
                                              const std::optional<SpanContext>& parent) {
  const TraceId trace_id = TraceIdFor(parent);
  const bool sampled = ShouldSample(parent, trace_id);
  return StartServerSpanSampled(std::move(name), parent, trace_id, sampled);
}

std::unique_ptr<Span> Tracer::StartRpcServerSpan(std::string_view service, std::string_view method,
                                                 const std::optional<SpanContext>& parent) {
  const TraceId trace_id = TraceIdFor(parent);
  const bool sampled = ShouldSample(parent, trace_id);
  // Unsampled without a caller's trace: its ids would appear nowhere.
  if (!sampled && !parent.has_value()) return nullptr;
  std::string name;
  if (sampled) name = absl::StrCat(std::string(service), "/", std::string(method));
  return StartServerSpanSampled(std::move(name), parent, trace_id, sampled);
}

std::unique_ptr<Span> Tracer::StartServerSpanSampled(std::string name,
                                                     const std::optional<SpanContext>& parent,
                                                     const TraceId& trace_id, bool sampled) {
  std::unique_ptr<Span> span(new Span());
  SpanContext& context = span->data_.context;
  context.trace_id = trace_id;
  if (parent.has_value()) {
    context.trace_state = parent->trace_state;
    span->data_.parent_span_id = parent->span_id;
  }
  context.sampled = sampled;
  if (!sampled) {
    // Not recorded: keep the caller's context (if any) for whoever logs under it.
    if (parent.has_value()) context.span_id = parent->span_id;
    return span;
  }
  FillRandom(&context.span_id);
  span->data_.name = std::move(name);
  span->data_.kind = SpanKind::kServer;
  span->data_.start_unix_nanos = UnixNanosNow();
  span->sink_ = sink_;
  return span;
}

std::unique_ptr<Span> Tracer::StartChildSpan(std::string name, const Span& parent) {
  std::unique_ptr<Span> span(new Span());
  span->data_.context = parent.Context();
  if (!parent.IsRecording()) return span;
  FillRandom(&span->data_.context.span_id);
  span->data_.parent_span_id = parent.Context().span_id;
  span->data_.name = std::move(name);
  span->data_.kind = SpanKind::kInternal;
  span->data_.start_unix_nanos = UnixNanosNow();
  span->sink_ = sink_;
  return span;
}

void Tracer::RecordChildSpan(std::string name, const Span& parent, uint64_t start_unix_nanos,
                             uint64_t end_unix_nanos) {
  if (!parent.IsRecording()) return;
  SpanData data;
  data.context = parent.Context();
  FillRandom(&data.context.span_id);
  data.parent_span_id = parent.Context().span_id;
  data.name = std::move(name);
  data.kind = SpanKind::kInternal;
  data.start_unix_nanos = start_unix_nanos;
  data.end_unix_nanos = end_unix_nanos;
  sink_->Export(std::move(data));
}

const SpanContext* CurrentSpanContext() { return current_context; }

ScopedSpanContext::ScopedSpanContext(const SpanContext* context) : previous_(current_context) {
  current_context = context;
}
ScopedSpanContext::~ScopedSpanContext() { current_context = previous_; }

void NoteFsync(uint64_t durable_end, const FsyncTiming& timing) {
  noted_fsyncs[noted_fsync_count % kNotedFsyncs] = {durable_end, timing};
  ++noted_fsync_count;
}

std::optional<FsyncTiming> NotedFsyncCovering(uint64_t offset) {
  const size_t kept = std::min(noted_fsync_count, kNotedFsyncs);
  std::optional<FsyncTiming> covering;
  // Newest to oldest: the last one that still covers `offset` is the first
  // fsync that made it durable, if an older one is known not to.
  for (size_t back = 1; back <= kept; ++back) {
    const NotedFsync& noted = noted_fsyncs[(noted_fsync_count - back) % kNotedFsyncs];
    if (noted.durable_end <= offset) return covering;
    covering = noted.timing;
  }
  // Every remembered fsync covers it: the oldest did, unless a forgotten one
  // did before it.
  return noted_fsync_count > kNotedFsyncs ? std::nullopt : covering;
}

const FsyncTiming* CurrentFsyncTiming() {
  internal::FsyncScope* scope = current_fsync;
  if (scope == nullptr) return nullptr;
  if (scope->covering.has_value()) {
    std::optional<FsyncTiming> found = NotedFsyncCovering(*scope->covering);
    if (!found.has_value() && scope->fallback.has_value()) {
      found = (*scope->fallback)(*scope->covering);
    }
    scope->covering.reset();
    if (found.has_value()) {
      scope->found = *found;
      scope->timing = &scope->found;
    }
  }
  return scope->timing;
}

ScopedFsyncTiming::ScopedFsyncTiming(const FsyncTiming* timing) {
  scope_.timing = timing;
  scope_.previous = std::exchange(current_fsync, &scope_);
}
ScopedFsyncTiming::~ScopedFsyncTiming() { current_fsync = scope_.previous; }

ScopedFsyncCovering::ScopedFsyncCovering(uint64_t offset) {
  scope_.covering = offset;
  scope_.previous = std::exchange(current_fsync, &scope_);
}
ScopedFsyncCovering::ScopedFsyncCovering(uint64_t offset, internal::FsyncLookup fallback) {
  scope_.covering = offset;
  scope_.fallback.emplace(fallback);
  scope_.previous = std::exchange(current_fsync, &scope_);
}
ScopedFsyncCovering::~ScopedFsyncCovering() { current_fsync = scope_.previous; }

}  // namespace proglog::telemetry
