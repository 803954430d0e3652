#include "core/server/grpc_log.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/telemetry/metrics.h"

namespace proglog::server {
namespace {

constexpr std::string_view kHandshakeFailed = "Handshake failed with fatal error";

// OpenSSL's reason in "...: error:0A0000C7:SSL routines::peer did not return a
// certificate.": the text after the last ':' without the final period.
std::string HandshakeReason(std::string_view message) {
  while (!message.empty() && (message.back() == '.' || message.back() == ' ')) {
    message.remove_suffix(1);
  }
  const size_t colon = message.rfind(':');
  std::string_view reason = colon == std::string_view::npos ? message : message.substr(colon + 1);
  while (!reason.empty() && reason.front() == ' ') reason.remove_prefix(1);
  return std::string(reason.empty() ? message : reason);
}

}  // namespace

std::string_view HandshakeFailureClass(std::string_view reason) {
  const std::string lower = absl::AsciiStrToLower(std::string(reason));
  auto any = [&lower](std::initializer_list<std::string_view> words) {
    for (std::string_view word : words) {
      if (lower.find(word) != std::string::npos) return true;
    }
    return false;
  };
  if (any({"did not return a certificate", "certificate required"})) return "no_certificate";
  if (any({"expired"})) return "expired_certificate";
  if (any({"verify failed", "unknown ca", "local issuer", "self-signed", "self signed",
           "bad certificate", "unsupported certificate"})) {
    return "untrusted_certificate";
  }
  if (any({"wrong version", "http request", "unexpected message", "record", "packet length",
           "no shared cipher", "unsupported protocol", "version too low"})) {
    return "protocol";
  }
  return "other";
}

void CountGrpcLogLine(const gpr_log_func_args& line) {
  const std::string_view message = line.message != nullptr ? line.message : "";
  if (message.find(kHandshakeFailed) == std::string_view::npos) return;
  static constexpr std::string_view kClasses[] = {"no_certificate", "expired_certificate",
                                                  "untrusted_certificate", "protocol", "other"};
  static telemetry::Counter* const* const counters = [] {
    static telemetry::Counter* by_class[std::size(kClasses)];
    for (size_t i = 0; i < std::size(kClasses); ++i) {
      by_class[i] = telemetry::DefaultRegistry()->GetCounter(
          "proglog_tls_handshake_failures_total",
          "TLS handshakes gRPC failed (mostly clients refused), by reason.",
          {{"reason", std::string(kClasses[i])}});
    }
    return by_class;
  }();
  const std::string_view cls = HandshakeFailureClass(HandshakeReason(message));
  for (size_t i = 0; i < std::size(kClasses); ++i) {
    if (kClasses[i] == cls) counters[i]->Increment();
  }
}

GrpcLogEvent InterpretGrpcLogLine(const gpr_log_func_args& line) {
  const std::string_view message = line.message != nullptr ? line.message : "";
  GrpcLogEvent event;
  switch (line.severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      event.level = spdlog::level::debug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      event.level = spdlog::level::info;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      event.level = spdlog::level::warn;
      break;
  }
  if (message.find(kHandshakeFailed) != std::string_view::npos) {
    event.level = spdlog::level::warn;
    event.message = "TLS handshake failed";
    event.fields = {{"reason", HandshakeReason(message)}, {"grpc_message", std::string(message)}};
    event.names_a_peer = true;
    return event;
  }
  event.message = "grpc";
  event.fields = {{"grpc_message", std::string(message)},
                  {"source", absl::StrCat(line.file != nullptr ? line.file : "?", ":", line.line)}};
  return event;
}

GrpcLogEvent InterpretAbseilLogLine(absl::LogSeverity severity, const char* file, int line,
                                    const std::string& message) {
  GrpcLogEvent event;
  switch (severity) {
    case absl::LogSeverity::kInfo:
      event.level = spdlog::level::info;
      break;
    case absl::LogSeverity::kWarning:
      event.level = spdlog::level::warn;
      break;
    case absl::LogSeverity::kError:
      event.level = spdlog::level::err;
      break;
    default:
      event.level = spdlog::level::critical;
      break;
  }
  event.message = "abseil";
  event.fields = {{"absl_message", message},
                  {"source", absl::StrCat(file != nullptr ? file : "?", ":", line)}};
  return event;
}

bool GrpcLogLimiter::Admit(uint64_t* dropped) {
  absl::MutexLock lock(&mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    passed_ = 0;
  }
  if (passed_ >= kGrpcEventsPerSecond) {
    ++dropped_;
    return false;
  }
  ++passed_;
  *dropped = dropped_;
  dropped_ = 0;
  return true;
}

}  // namespace proglog::server
