#include "core/node/node.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/node/cluster_node.h"
#include "core/node/node_metrics.h"
#include "core/node/observed_node.h"
#include "core/security/acl.h"
#include "core/security/server_security.h"
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
  // A probe file rather than access(): root passes access() on a read-only
  // mount's directory modes, and the node would fail later, less clearly.
  const std::filesystem::path probe = dir / absl::StrCat(".proglog-write-check-", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("data dir ", dir.string(), " is not writable: ", std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

constexpr char kDataDirInUsePayload[] = "proglog.node/data-dir-in-use";

// An open, flock()ed `data_dir`/LOCK; closing the descriptor releases the lock.
class DataDirLock {
 public:
  explicit DataDirLock(int fd) : fd_(fd) {}
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// One node per data dir: a second one would append to the same files. The
// lock is taken before anything in the dir is opened. flock() locks belong to
// the open file, so a second open in the same process is refused too.
absl::StatusOr<std::unique_ptr<DataDirLock>> LockDataDir(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path.string(), ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot lock ", path.string(), ": ", std::strerror(error)));
    }
    absl::Status status = absl::AbortedError(
        absl::StrCat("data dir ", dir.string(), " is already in use by another node (it holds ",
                     path.string(), "); stop that node or choose another data dir"));
    status.SetPayload(kDataDirInUsePayload, absl::Cord("1"));
    return status;
  }
  return std::make_unique<DataDirLock>(fd);
}

// Holds the data dir's lock for as long as the node it wraps is open.
class LockedNode final : public Node {
 public:
  LockedNode(std::unique_ptr<DataDirLock> lock, std::unique_ptr<Node> node)
      : lock_(std::move(lock)), node_(std::move(node)) {}
  ~LockedNode() override { (void)Close(); }

  absl::StatusOr<uint64_t> Append(std::string_view value) override { return node_->Append(value); }
  absl::StatusOr<log::Record> Read(uint64_t offset) override { return node_->Read(offset); }
  std::string RpcAddress() const override { return node_->RpcAddress(); }
  std::string GossipAddress() const override { return node_->GossipAddress(); }
  std::string MetricsAddress() const override { return node_->MetricsAddress(); }
  telemetry::Registry* Metrics() const override { return node_->Metrics(); }

  // The lock goes once the node's files are closed, so a node opened on the
  // same dir after Close() (before the handle is freed) may start.
  absl::Status Close() override {
    absl::Status status = node_->Close();
    lock_->Release();
    return status;
  }

 private:
  const std::unique_ptr<DataDirLock> lock_;
  const std::unique_ptr<Node> node_;
};

// Loads the client TLS and ACL files into `config`'s credentials and
// authorizer; returns the authorizer (null without an ACL) for ReloadAcl.
absl::StatusOr<std::shared_ptr<security::Authorizer>> LoadSecurity(Config& config) {
  const SecurityConfig& files = config.security;
  const bool given_files = files.Any();
  const bool prebuilt = config.server_credentials != nullptr || config.authorizer != nullptr;
  if (prebuilt && given_files) {
    return absl::InvalidArgumentError(
        "give the node either security files or prebuilt credentials/authorizer, not both");
  }
  if (prebuilt) return nullptr;
  absl::StatusOr<security::ServerSecurity> loaded = security::ServerSecurity::FromFlags(
      {files.server_tls_cert_file, files.server_tls_key_file, files.server_tls_ca_file},
      {files.acl_model_file, files.acl_policy_file});
  if (!loaded.ok()) {
    // Every failure here is a bad setting: a missing, unreadable or invalid file.
    return absl::InvalidArgumentError(loaded.status().message());
  }
  config.server_credentials = loaded->credentials;
  config.authorizer = loaded->AuthorizerCallback();
  return loaded->authorizer;
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
    options.compat_original_codes = config_.compat_original_codes;
    if (config_.log.metrics != nullptr) options.metrics = config_.log.metrics;  // the node's
    options.tracer = config_.tracer;  // the node's own; null: no tracing
    commit_log_ = std::make_unique<server::LocalCommitLog>(log_.get());
    absl::StatusOr<std::unique_ptr<server::Server>> server =
        server::Server::Start(commit_log_.get(), std::move(options));
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    log_metrics_ = internal::RegisterLogMetrics(config_.log.metrics, [log = log_] { return log; });
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
  // Settings first, so a bad one is reported before the data dir is created.
  absl::StatusOr<std::shared_ptr<security::Authorizer>> acl = LoadSecurity(config);
  if (!acl.ok()) return acl.status();
  if (absl::Status status = PrepareDataDir(config.data_dir); !status.ok()) return status;
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = LockDataDir(config.data_dir);
  if (!lock.ok()) return lock.status();
  if (config.node_name.empty()) config.node_name = DefaultNodeName();
  absl::StatusOr<std::unique_ptr<Node>> opened =
      internal::OpenObserved(std::move(config), OpenUnobserved);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<Node> node = std::make_unique<LockedNode>(*std::move(lock), *std::move(opened));
  node->acl_ = *std::move(acl);
  return node;
}

bool IsDataDirInUse(const absl::Status& status) {
  return absl::IsAborted(status) && status.GetPayload(kDataDirInUsePayload).has_value();
}

namespace {
absl::StatusOr<std::unique_ptr<Node>> OpenUnobserved(Config config) {
  if (config.cluster.enabled) return internal::OpenClusterNode(std::move(config));
  if (absl::Status kind = internal::CheckDataDirKind(config.data_dir, /*cluster=*/false);
      !kind.ok()) {
    return kind;
  }
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

absl::StatusOr<AclStatus> Node::ReloadAcl() {
  if (acl_ == nullptr) return absl::FailedPreconditionError("no ACL configured");
  if (absl::Status status = acl_->Reload(); !status.ok()) return status;
  return *Acl();
}

std::optional<AclStatus> Node::Acl() const {
  if (acl_ == nullptr) return std::nullopt;
  return AclStatus{acl_->RuleCount(), acl_->Generation()};
}

std::string DefaultNodeName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "proglog";
  return host;
}

}  // namespace proglog::node
