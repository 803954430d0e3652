#include "tests/testing/otlp_receiver.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "httplib.h"

namespace proglog::testing {
namespace {

using nlohmann::json;

// The string attributes of one resourceSpans entry's resource.
std::map<std::string, std::string> ResourceAttributes(const json& resource_spans) {
  std::map<std::string, std::string> resource;
  if (!resource_spans.contains("resource")) return resource;
  for (const json& attribute : resource_spans["resource"].value("attributes", json::array())) {
    resource[attribute.at("key")] = attribute.at("value").value("stringValue", "");
  }
  return resource;
}

// The spans of one OTLP JSON request body, each with its resource attributes.
// Throws json::exception when the body is not OTLP JSON.
std::vector<ReceivedSpan> SpansOf(const std::string& body) {
  const json request = json::parse(body);
  std::vector<ReceivedSpan> spans;
  for (const json& resource_spans : request.value("resourceSpans", json::array())) {
    const std::map<std::string, std::string> resource = ResourceAttributes(resource_spans);
    for (const json& scope : resource_spans.value("scopeSpans", json::array())) {
      for (const json& span : scope.value("spans", json::array()))
        spans.push_back({span, resource});
    }
  }
  return spans;
}

}  // namespace

OtlpReceiver::OtlpReceiver() : server_(std::make_unique<httplib::Server>()) {
  server_->Post("/v1/traces", [this](const httplib::Request& request, httplib::Response& reply) {
    if (Keep(request.body, request.get_header_value("Content-Type"))) {
      reply.set_content("{}", "application/json");
    } else {
      reply.status = 400;
      reply.set_content("body is not OTLP JSON", "text/plain");
    }
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ < 0) {
    std::fprintf(stderr, "OtlpReceiver: cannot listen on 127.0.0.1\n");
    std::abort();
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

OtlpReceiver::~OtlpReceiver() {
  server_->stop();
  thread_.join();
}

std::string OtlpReceiver::Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string OtlpReceiver::Url() const { return Endpoint() + "/v1/traces"; }

std::vector<std::string> OtlpReceiver::Bodies() {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_;
}

std::vector<std::string> OtlpReceiver::ContentTypes() {
  std::lock_guard<std::mutex> lock(mu_);
  return content_types_;
}

std::vector<ReceivedSpan> OtlpReceiver::Spans() {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_;
}

nlohmann::json OtlpReceiver::WaitFor(const std::string& trace_id, const std::string& name,
                                     std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  json found;
  arrived_.wait_for(lock, timeout, [&] {
    for (const ReceivedSpan& received : spans_) {
      if (received.span.value("traceId", "") == trace_id &&
          received.span.value("name", "") == name) {
        found = received.span;
        return true;
      }
    }
    return false;
  });
  return found;
}

bool OtlpReceiver::Keep(const std::string& body, const std::string& content_type) {
  std::vector<ReceivedSpan> spans;
  bool parsed = true;
  try {
    spans = SpansOf(body);
  } catch (const json::exception&) {
    parsed = false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    bodies_.push_back(body);
    content_types_.push_back(content_type);
    for (ReceivedSpan& span : spans) spans_.push_back(std::move(span));
  }
  arrived_.notify_all();
  return parsed;
}

}  // namespace proglog::testing
