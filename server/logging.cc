#include "server/logging.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/log_severity.h"
#include "absl/strings/str_cat.h"
#include "core/node/grpc_log_route.h"
#include "core/server/grpc_log.h"
#include "core/telemetry/trace.h"
#include "grpc/support/log.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace proglog::app {
namespace {

// Structured fields travel inside the message payload, separated by control
// characters that never occur in ordinary log text; the formatter below turns
// them into `key=value` or JSON members. This keeps one spdlog logger for our
// events and for the plain messages of core components.
constexpr char kFieldSeparator = '\x1f';
constexpr char kKeyValueSeparator = '\x1e';

void AppendJsonString(std::string_view text, spdlog::memory_buf_t& dest) {
  dest.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        dest.append(std::string_view("\\\""));
        break;
      case '\\':
        dest.append(std::string_view("\\\\"));
        break;
      case '\n':
        dest.append(std::string_view("\\n"));
        break;
      case '\t':
        dest.append(std::string_view("\\t"));
        break;
      case '\r':
        dest.append(std::string_view("\\r"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char kHex[] = "0123456789abcdef";
          const auto byte = static_cast<unsigned char>(c);
          const char escaped[] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
          dest.append(escaped, escaped + sizeof(escaped));
        } else {
          dest.push_back(c);
        }
    }
  }
  dest.push_back('"');
}

bool NeedsQuotes(std::string_view value) {
  return value.empty() || value.find_first_of(" \"=\t\n") != std::string_view::npos;
}

// Renders the payload: the message, then each field.
class PayloadFlag : public spdlog::custom_flag_formatter {
 public:
  PayloadFlag(LogFormat format, std::string node) : format_(format), node_(std::move(node)) {}

  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    size_t separator = payload.find(kFieldSeparator);
    const std::string_view message = payload.substr(0, separator);
    if (format_ == LogFormat::kJson) {
      dest.append(std::string_view("\"node\":"));
      AppendJsonString(node_, dest);
      dest.append(std::string_view(",\"msg\":"));
      AppendJsonString(message, dest);
    } else {
      dest.append(message);
    }
    while (separator != std::string_view::npos) {
      payload.remove_prefix(separator + 1);
      separator = payload.find(kFieldSeparator);
      const std::string_view field = payload.substr(0, separator);
      const size_t split = field.find(kKeyValueSeparator);
      AppendField(field.substr(0, split),
                  split == std::string_view::npos ? "" : field.substr(split + 1), dest);
    }
    // Inside a traced request (the logging thread is the caller's: the sink is
    // synchronous), the line joins its trace.
    if (const telemetry::SpanContext* span = telemetry::CurrentSpanContext();
        span != nullptr && span->IsValid()) {
      AppendField("trace_id", span->TraceIdHex(), dest);
      AppendField("span_id", span->SpanIdHex(), dest);
    }
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PayloadFlag>(format_, node_);
  }

 private:
  void AppendField(std::string_view key, std::string_view value, spdlog::memory_buf_t& dest) {
    if (format_ == LogFormat::kJson) {
      dest.push_back(',');
      AppendJsonString(key, dest);
      dest.push_back(':');
      AppendJsonString(value, dest);
      return;
    }
    dest.push_back(' ');
    dest.append(key);
    dest.push_back('=');
    if (NeedsQuotes(value)) {
      AppendJsonString(value, dest);
    } else {
      dest.append(value);
    }
  }

  LogFormat format_;
  std::string node_;
};

// Logs `message` with `fields` (key/value pairs) in the payload PayloadFlag formats.
template <typename Fields>
void LogWithFields(spdlog::level::level_enum level, absl::string_view message,
                   const Fields& fields) {
  std::string payload(message.data(), message.size());
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&payload, absl::string_view(&kFieldSeparator, 1), key,
                    absl::string_view(&kKeyValueSeparator, 1), value);
  }
  spdlog::log(level, "{}", payload);
}

// gRPC's own log lines (failed TLS handshakes, bad connections) go through our
// logger as structured events (core/server/grpc_log.h), rate-limited: a peer
// can make gRPC log once per connection.
void LogGrpcLine(gpr_log_func_args* args) {
  static auto* limiter = new server::GrpcLogLimiter();
  server::CountGrpcLogLine(*args);
  uint64_t dropped = 0;
  if (!limiter->Admit(&dropped)) return;
  server::GrpcLogEvent event = server::InterpretGrpcLogLine(*args);
  if (dropped > 0) event.fields.emplace_back("dropped", std::to_string(dropped));
  node::EmitGrpcLogEvent(std::move(event), [](server::GrpcLogEvent e) {
    LogWithFields(e.level, e.message, e.fields);
  });
}

// abseil's own messages, which it would write to stderr as plain text.
void LogAbseilLine(absl::LogSeverity severity, const char* file, int line,
                   const std::string& message) {
  const server::GrpcLogEvent event = server::InterpretAbseilLogLine(severity, file, line, message);
  LogWithFields(event.level, event.message, event.fields);
  // abseil's caller does not return from a fatal message.
  if (severity == absl::LogSeverity::kFatal) std::abort();
}

}  // namespace

absl::Status SetUpLogging(LogFormat format, absl::string_view level, absl::string_view node_name) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only an explicit "off" may mean that.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level \"", level,
                     "\" (want trace, debug, info, warn, error, critical or off)"));
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<PayloadFlag>('*', format, std::string(node_name));
  if (format == LogFormat::kJson) {
    formatter->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%*})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %*");
  }
  auto logger = std::make_shared<spdlog::logger>("proglog",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::move(formatter));
  logger->set_level(parsed);
  // Errors must reach the terminal before a crash or an exit.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  gpr_set_log_function(LogGrpcLine);
  absl::raw_logging_internal::RegisterInternalLogFunction(LogAbseilLine);
  return absl::OkStatus();
}

void LogEvent(spdlog::level::level_enum level, absl::string_view message,
              std::initializer_list<LogField> fields) {
  LogWithFields(level, message, fields);
}

}  // namespace proglog::app
