// The C library's log output. An embedded node and the client log through
// spdlog (core components) and gRPC's own log function; a library must not
// write to its host's stdout or stderr, so at load time both are routed here:
// records wait in a bounded queue and one library thread hands them, in
// order, to the handler the application set (proglog_set_log_handler), or
// drops them when it set none. Library threads never wait for the handler.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/log_severity.h"
#include "capi/src/capi_internal.h"
#include "core/node/grpc_log_route.h"
#include "core/server/grpc_log.h"
#include "grpc/support/log.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

namespace proglog::capi {
namespace {

// Records beyond this many undelivered are dropped (and counted).
constexpr size_t kMaxQueuedRecords = 4096;

struct LogRecord {
  int level = PROGLOG_LOG_INFO;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;
};

int LevelOf(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return PROGLOG_LOG_DEBUG;
    case spdlog::level::info:
      return PROGLOG_LOG_INFO;
    case spdlog::level::warn:
      return PROGLOG_LOG_WARN;
    default:
      return PROGLOG_LOG_ERROR;
  }
}

class LogDispatcher {
 public:
  static LogDispatcher& Get() {
    // Never destroyed: library threads may log during the host's exit.
    static auto* dispatcher = new LogDispatcher();
    return *dispatcher;
  }

  bool Wants(int level) const {
    return has_handler_.load(std::memory_order_relaxed) &&
           level >= min_level_.load(std::memory_order_relaxed);
  }

  void Post(LogRecord record) {
    if (!Wants(record.level)) return;
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queue_.size() >= kMaxQueuedRecords) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(record));
    queue_cv_.notify_one();
  }

  // Returns once no call to the previous handler is running.
  void SetHandler(proglog_log_fn fn, int min_level, void* user_data) {
    std::lock_guard<std::mutex> delivering(deliver_mu_);
    fn_ = fn;
    user_data_ = user_data;
    min_level_.store(min_level);
    has_handler_.store(fn != nullptr);
    if (fn != nullptr && !thread_started_) {
      thread_started_ = true;
      std::thread([this] { Deliver(); }).detach();
    }
    if (fn == nullptr) {
      std::lock_guard<std::mutex> lock(queue_mu_);
      queue_.clear();
    }
  }

 private:
  void Deliver() {
    while (true) {
      LogRecord record;
      uint64_t dropped = 0;
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        queue_cv_.wait(lock, [this] { return !queue_.empty(); });
        record = std::move(queue_.front());
        queue_.pop_front();
        std::swap(dropped, dropped_);
      }
      if (dropped > 0) record.fields.emplace_back("dropped", std::to_string(dropped));
      std::lock_guard<std::mutex> delivering(deliver_mu_);
      if (fn_ == nullptr) continue;
      std::vector<const char*> keys, values;
      for (const auto& [key, value] : record.fields) {
        keys.push_back(key.c_str());
        values.push_back(value.c_str());
      }
      fn_(user_data_, record.level, record.message.c_str(), keys.data(), values.data(),
          keys.size());
    }
  }

  std::atomic<bool> has_handler_{false};
  std::atomic<int> min_level_{PROGLOG_LOG_INFO};
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<LogRecord> queue_;
  uint64_t dropped_ = 0;
  std::mutex deliver_mu_;  // held while the handler runs
  proglog_log_fn fn_ = nullptr;
  void* user_data_ = nullptr;
  bool thread_started_ = false;
};

// Core components' spdlog messages, as records.
class DispatchSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const int level = LevelOf(msg.level);
    if (!LogDispatcher::Get().Wants(level)) return;
    LogDispatcher::Get().Post({level, std::string(msg.payload.data(), msg.payload.size()), {}});
  }
  void flush_() override {}
};

void RouteGrpcLine(gpr_log_func_args* args) {
  static auto* limiter = new server::GrpcLogLimiter();
  server::CountGrpcLogLine(*args);
  server::GrpcLogEvent event = server::InterpretGrpcLogLine(*args);
  const int level = LevelOf(event.level);
  if (!LogDispatcher::Get().Wants(level)) return;
  uint64_t dropped = 0;
  if (!limiter->Admit(&dropped)) return;
  if (dropped > 0) event.fields.emplace_back("dropped", std::to_string(dropped));
  node::EmitGrpcLogEvent(std::move(event), [level](server::GrpcLogEvent e) {
    LogDispatcher::Get().Post({level, std::move(e.message), std::move(e.fields)});
  });
}

// abseil's own messages, which it would write to stderr as plain text.
void RouteAbseilLine(absl::LogSeverity severity, const char* file, int line,
                     const std::string& message) {
  server::GrpcLogEvent event = server::InterpretAbseilLogLine(severity, file, line, message);
  LogDispatcher::Get().Post(
      {LevelOf(event.level), std::move(event.message), std::move(event.fields)});
  // abseil's caller does not return from a fatal message.
  if (severity == absl::LogSeverity::kFatal) std::abort();
}

// Runs when the library is loaded, before any node or client exists.
bool RouteLogsToTheHandler() {
  auto logger = std::make_shared<spdlog::logger>("proglog", std::make_shared<DispatchSink>());
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(std::move(logger));
  gpr_set_log_function(RouteGrpcLine);
  absl::raw_logging_internal::RegisterInternalLogFunction(RouteAbseilLine);
  return true;
}

[[maybe_unused]] const bool kLogsRouted = RouteLogsToTheHandler();

}  // namespace
}  // namespace proglog::capi

extern "C" {

int proglog_set_log_handler(proglog_log_fn fn, int min_level, void* user_data) {
  try {
    proglog::capi::LogDispatcher::Get().SetHandler(fn, min_level, user_data);
    return PROGLOG_OK;
  } catch (...) {
    return PROGLOG_ENOMEM;
  }
}

}  // extern "C"
