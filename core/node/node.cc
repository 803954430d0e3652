#include "core/node/node.h"

#include <unistd.h>

#include <system_error>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/node/cluster_node.h"
#include "core/node/node_metrics.h"
#include "core/node/observed_node.h"
#include "core/server/local_commit_log.h"
#include "core/server/server.h"
#include "spdlog/spdlog.h"

namespace proglog::node {
namespace {

// Creates `dir` if needed and proves it is writable, so a bad data dir is
// reported by name before anything else is opened.
absl::Status PrepareDataDir(const std::filesystem::path& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("no data dir given");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create data dir ", dir.string(), ": ", error.message()));
  }
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data dir ", dir.string(), " is not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("data dir ", dir.string(), " is not writable"));
  }
  return absl::OkStatus();
}

std::string DefaultNodeName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "proglog";
  return host;
}

class LocalNode final : public Node {
 public:
  LocalNode(Config config, std::unique_ptr<log::Log> log)
      : config_(std::move(config)), log_(std::move(log)) {}
  ~LocalNode() override { (void)Close(); }

  absl::Status Start() {
    server::Options options;
    options.address = absl::StrCat(config_.rpc_host, ":", config_.rpc_port);
    options.credentials = config_.server_credentials;
    options.authorizer = config_.authorizer;
    options.node_id = config_.node_name;
    options.max_record_bytes = config_.log.max_record_bytes;
    commit_log_ = std::make_unique<server::LocalCommitLog>(log_.get());
    absl::StatusOr<std::unique_ptr<server::Server>> server =
        server::Server::Start(commit_log_.get(), std::move(options));
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    log_metrics_ = internal::RegisterLogMetrics([log = log_] { return log; });
    if (config_.log.retention_bytes > 0 || config_.log.retention_age.count() > 0) {
      retention_thread_ = std::thread([this] { RunRetention(); });
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Append(std::string_view value) override {
    if (IsClosed()) return Closed();
    return log_->Append(log::Record{std::string(value)});
  }

  absl::StatusOr<log::Record> Read(uint64_t offset) override {
    if (IsClosed()) return Closed();
    return log_->Read(offset);
  }

  std::string RpcAddress() const override { return server_ ? server_->Address() : ""; }

  absl::Status Close() override {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return absl::OkStatus();
      closed_ = true;
    }
    // Order matters: the server finishes in-flight produces against the open
    // log, then the log is closed with nothing left writing to it.
    if (server_ != nullptr) server_->Shutdown();
    if (commit_log_ != nullptr) commit_log_->Stop();
    if (retention_thread_.joinable()) retention_thread_.join();
    log_metrics_.Reset();
    absl::Status status = log_->Close();
    if (!status.ok())
      spdlog::error("closing the log in {}: {}", LogDir().string(), status.ToString());
    return status;
  }

  std::filesystem::path LogDir() const { return config_.data_dir / "log"; }

 private:
  bool IsClosed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  static absl::Status Closed() { return absl::FailedPreconditionError("node is closed"); }

  // Applies retention every retention_interval until Close(); the wait is a
  // timer that Close() cuts short.
  void RunRetention() {
    const absl::Duration interval = absl::FromChrono(config_.retention_interval);
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&closed_), interval)) {
      mu_.Unlock();
      absl::StatusOr<int> removed = log_->EnforceRetention();
      if (!removed.ok()) {
        spdlog::warn("retention: {}", removed.status().ToString());
      } else if (*removed > 0) {
        spdlog::info("retention removed {} segment(s)", *removed);
      }
      mu_.Lock();
    }
  }

  const Config config_;
  std::shared_ptr<log::Log> log_;
  std::unique_ptr<server::LocalCommitLog> commit_log_;
  telemetry::CollectorHandle log_metrics_;
  std::unique_ptr<server::Server> server_;
  std::thread retention_thread_;
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// The node itself, without the telemetry OpenObserved adds.
absl::StatusOr<std::unique_ptr<Node>> OpenUnobserved(Config config);

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Open(Config config) {
  if (absl::Status status = PrepareDataDir(config.data_dir); !status.ok()) return status;
  if (config.node_name.empty()) config.node_name = DefaultNodeName();
  return internal::OpenObserved(std::move(config), OpenUnobserved);
}

namespace {
absl::StatusOr<std::unique_ptr<Node>> OpenUnobserved(Config config) {
  if (config.cluster.enabled) return internal::OpenClusterNode(std::move(config));
  absl::StatusOr<std::unique_ptr<log::Log>> log =
      log::Log::Open(config.data_dir / "log", config.log);
  if (!log.ok()) return log.status();
  auto node = std::make_unique<LocalNode>(std::move(config), *std::move(log));
  if (absl::Status status = node->Start(); !status.ok()) {
    (void)node->Close();
    return status;
  }
  return node;
}
}  // namespace

}  // namespace proglog::node
