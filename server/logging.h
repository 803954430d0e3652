// server/logging: the `proglog` binary's log output. Every line goes to stderr,
// either as text ("2026-01-02T03:04:05.678Z info serving rpc_addr=...") or as
// one JSON object per line, so an operator's log pipeline can parse it. Messages
// from core components (through spdlog's default logger) get the same format.
//
// JSON keys, stable: "ts" (UTC, RFC 3339 with milliseconds), "level", "node"
// (the node's name), "msg", then the event's own fields; a line written while
// an RPC's trace is current on the thread (core/telemetry ScopedSpanContext)
// also has "trace_id" (32 hex digits) and "span_id" (16 hex digits), the ids an
// OTLP backend shows.
//
// Thread-safety: SetUpLogging() is called once, before other threads log;
// LogEvent() is thread-safe.
#ifndef PROGLOG_SERVER_LOGGING_H_
#define PROGLOG_SERVER_LOGGING_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace proglog::app {

enum class LogFormat { kText, kJson };

// Installs the default spdlog logger with `format` and `level` ("trace",
// "debug", "info", "warn", "error"); InvalidArgument for an unknown level.
// gRPC's own log lines are routed through it too (core/server/grpc_log.h): a
// failed TLS handshake is the warning "TLS handshake failed" with `reason`,
// other lines msg "grpc" with grpc_message and source; at most 5 a second (a
// "dropped" field counts the rest), gRPC's errors logged as warnings. So are
// abseil's own messages: the event "abseil" with absl_message and source.
// `node_name` is the "node" of every JSON line (text lines leave it out).
absl::Status SetUpLogging(LogFormat format, absl::string_view level, absl::string_view node_name);

using LogField = std::pair<absl::string_view, std::string>;

// Logs `message` with structured fields: `key=value` in text, JSON members in json.
void LogEvent(spdlog::level::level_enum level, absl::string_view message,
              std::initializer_list<LogField> fields = {});

}  // namespace proglog::app

#endif  // PROGLOG_SERVER_LOGGING_H_
