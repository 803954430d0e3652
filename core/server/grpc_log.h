// core/server/grpc_log: gRPC's (and abseil's) own log lines as our log
// events. gRPC writes a line per failed TLS handshake, per broken connection
// and so on, in its own format; a peer can make it write one per connection. The `proglog` binary
// and the C library both route gRPC's lines through this: each becomes one
// structured event, and at most kGrpcEventsPerSecond pass each second.
//
// A failed TLS handshake on this side is the warning "TLS handshake failed"
// with the field `reason` (OpenSSL's words: "peer did not return a
// certificate", "certificate verify failed", ...). gRPC 1.51 does not say
// which peer it was; core/node/grpc_log_route adds it where the port mux knows
// it. Any other line is the event "grpc" with the fields grpc_message and
// source.
//
// Thread-safety: InterpretGrpcLogLine is pure; CountGrpcLogLine and
// GrpcLogLimiter are thread-safe.
#ifndef PROGLOG_CORE_SERVER_GRPC_LOG_H_
#define PROGLOG_CORE_SERVER_GRPC_LOG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/log_severity.h"
#include "absl/synchronization/mutex.h"
#include "grpc/support/log.h"
#include "spdlog/common.h"

namespace proglog::server {

inline constexpr int kGrpcEventsPerSecond = 5;

struct GrpcLogEvent {
  spdlog::level::level_enum level = spdlog::level::info;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;
  bool names_a_peer = false;  // a failed handshake: the peer is worth waiting for
};

// The event for one of abseil's own messages (ABSL_INTERNAL_LOG, from its
// status, cord and flags code): "abseil" with absl_message and source, at the
// message's severity (fatal ones as critical; the caller aborts after them).
GrpcLogEvent InterpretAbseilLogLine(absl::LogSeverity severity, const char* file, int line,
                                    const std::string& message);

// The event for one of gRPC's lines. gRPC's errors become warnings: for a
// server they are its peers' faults (a bad handshake, a dropped connection).
GrpcLogEvent InterpretGrpcLogLine(const gpr_log_func_args& line);

// The bounded label for an OpenSSL handshake failure reason: no_certificate,
// expired_certificate, untrusted_certificate, protocol or other.
std::string_view HandshakeFailureClass(std::string_view reason);

// Counts a failed TLS handshake that `line` reports in
// proglog_tls_handshake_failures_total{reason}; other lines count nothing. The
// routes of gRPC's lines call it first, so the rate limit drops no count.
void CountGrpcLogLine(const gpr_log_func_args& line);

// Lets through at most kGrpcEventsPerSecond events a second.
class GrpcLogLimiter {
 public:
  // Whether an event may pass now; if so `dropped` gets the count refused
  // since the last one that passed (report it with that event).
  bool Admit(uint64_t* dropped);

 private:
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point window_start_ ABSL_GUARDED_BY(mu_){};
  int passed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_GRPC_LOG_H_
