// Test support: a real OTLP/HTTP traces receiver (JSON encoding) on a free
// loopback port, for tests that point an exporter at it and look at what
// arrived. It keeps every request to POST /v1/traces (body and Content-Type)
// and every span in them with the resource attributes of its request.
#ifndef PROGLOG_TESTS_TESTING_OTLP_RECEIVER_H_
#define PROGLOG_TESTS_TESTING_OTLP_RECEIVER_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace httplib {
class Server;
}  // namespace httplib

namespace proglog::testing {

// One received span with the (string) resource attributes of its request.
struct ReceivedSpan {
  nlohmann::json span;
  std::map<std::string, std::string> resource;
};

class OtlpReceiver {
 public:
  // Listens on 127.0.0.1 (a free port) until destroyed; aborts the process
  // when it cannot listen: no test that needs it can run without it.
  OtlpReceiver();
  ~OtlpReceiver();

  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  // "http://127.0.0.1:PORT": the base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT).
  std::string Endpoint() const;
  // "http://127.0.0.1:PORT/v1/traces": the full traces URL.
  std::string Url() const;

  // Every request body and Content-Type so far, in arrival order.
  std::vector<std::string> Bodies();
  std::vector<std::string> ContentTypes();
  // Every span so far, in arrival order.
  std::vector<ReceivedSpan> Spans();

  // The first span named `name` in trace `trace_id` (hex), waiting up to
  // `timeout` for it to arrive; null when it does not.
  nlohmann::json WaitFor(const std::string& trace_id, const std::string& name,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  // Keeps one request; false when its body is not OTLP JSON.
  bool Keep(const std::string& body, const std::string& content_type);

  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<std::string> bodies_;         // guarded by mu_
  std::vector<std::string> content_types_;  // guarded by mu_
  std::vector<ReceivedSpan> spans_;         // guarded by mu_
};

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_TESTING_OTLP_RECEIVER_H_
