#include "core/telemetry/telemetry.h"

#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/telemetry/process_metrics.h"
#include "httplib.h"

namespace proglog::telemetry {
namespace {

constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";
// Scrapes and probes are rare; two threads are plenty and leave the cores to the node.
constexpr size_t kHttpThreads = 2;

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\" is not host:port"));
  }
  *host = address.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, Registry* registry, std::function<bool()> ready) {
  std::string host;
  int port = 0;
  if (absl::Status status = SplitHostPort(address, &host, &port); !status.ok()) return status;
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *endpoint->http_;
  http.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  // httplib's default also sets SO_REUSEPORT, which would let a second node
  // share a busy port silently; a busy port must be an error.
  http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.Get("/metrics", [registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry->RenderText(), kExpositionContentType);
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz",
           [ready = std::move(ready)](const httplib::Request&, httplib::Response& response) {
             if (ready && !ready()) {
               response.status = 503;
               response.set_content("not ready\n", "text/plain");
               return;
             }
             response.set_content("ready\n", "text/plain");
           });
  const int bound =
      port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", address));
  }
  endpoint->address_ = absl::StrCat(address.substr(0, address.rfind(':')), ":", bound);
  endpoint->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the listen loop runs; wait for it, so that the
  // destructor cannot race with the start and leave the thread in accept().
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<Telemetry>> Telemetry::Start(const Settings& settings,
                                                            Registry* registry) {
  if (registry == nullptr) registry = DefaultRegistry();
  std::unique_ptr<Telemetry> telemetry(new Telemetry());
  Telemetry* self = telemetry.get();
  telemetry->process_metrics_ = registry->AddCollector(CollectProcessMetrics);
  if (registry != DefaultRegistry()) {
    // Lock order: this registry's collection, then the default one's (never the reverse).
    telemetry->process_wide_metrics_ = registry->AddCollector([](std::vector<FamilySnapshot>* out) {
      for (FamilySnapshot& family : DefaultRegistry()->Collect()) out->push_back(std::move(family));
    });
  }
  if (!settings.metrics_addr.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint = MetricsEndpoint::Start(
        settings.metrics_addr, registry, [self] { return self->ready_.load(); });
    if (!endpoint.ok()) return endpoint.status();
    telemetry->endpoint_ = *std::move(endpoint);
  }
  if (!settings.tracing.traces_endpoint.empty()) {
    const TracingConfig& tracing = settings.tracing;
    telemetry->exporter_ = std::make_unique<OtlpExporter>(tracing, registry);
    telemetry->tracer_ = std::make_unique<Tracer>(tracing.sampler, tracing.sampler_ratio,
                                                  telemetry->exporter_.get());
  }
  return telemetry;
}

Telemetry::~Telemetry() {
  if (exporter_ != nullptr) exporter_->Shutdown();
  endpoint_.reset();
}

}  // namespace proglog::telemetry
