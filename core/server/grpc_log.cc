#include "core/server/grpc_log.h"

#include <string_view>

#include "absl/strings/str_cat.h"

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
    return event;
  }
  event.message = "grpc";
  event.fields = {{"grpc_message", std::string(message)},
                  {"source", absl::StrCat(line.file != nullptr ? line.file : "?", ":", line.line)}};
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
