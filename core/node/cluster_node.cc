#include "core/node/cluster_node.h"

#include <filesystem>
#include <future>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/discovery/membership.h"
#include "core/mux/mux.h"
#include "core/mux/raft_transport.h"
#include "core/node/identity.h"
#include "core/node/node_metrics.h"
#include "core/node/peer_directory.h"
#include "core/node/replicated_log.h"
#include "core/security/tls_config.h"
#include "core/server/server.h"
#include "spdlog/spdlog.h"

namespace proglog::node::internal {
namespace {

// Leadership moves before a leader leaves, bounded so a stop never hangs.
constexpr absl::Duration kTransferTimeout = absl::Seconds(2);

bool IsWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::" || host == ""; }

// The peer TLS contexts for Raft connections (both null without the files).
struct PeerTls {
  security::SslCtxPtr accept;
  security::SslCtxPtr connect;
};

absl::StatusOr<PeerTls> LoadPeerTls(const ClusterConfig& cluster) {
  const int given = !cluster.peer_tls_cert_file.empty() + !cluster.peer_tls_key_file.empty() +
                    !cluster.peer_tls_ca_file.empty();
  PeerTls tls;
  if (given == 0) return tls;
  if (given != 3) {
    return absl::InvalidArgumentError(
        "peer TLS needs all of --peer-tls-cert-file, --peer-tls-key-file and --peer-tls-ca-file");
  }
  absl::StatusOr<security::TlsConfig> config = security::TlsConfig::Load(
      security::TlsRole::kPeer,
      {cluster.peer_tls_cert_file, cluster.peer_tls_key_file, cluster.peer_tls_ca_file});
  if (!config.ok()) return config.status();
  absl::StatusOr<security::SslCtxPtr> accept =
      security::NewPeerSslContext(*config, security::HandshakeSide::kAccept);
  if (!accept.ok()) return accept.status();
  absl::StatusOr<security::SslCtxPtr> connect =
      security::NewPeerSslContext(*config, security::HandshakeSide::kConnect);
  if (!connect.ok()) return connect.status();
  tls.accept = *std::move(accept);
  tls.connect = *std::move(connect);
  return tls;
}

// Refuses to join a cluster in which another live member already has this
// node's name (at another gossip address): two nodes would share one Raft id.
// Asks the join addresses read-only; unreachable ones are left to the
// background joins.
absl::Status CheckNameIsFree(const Config& config) {
  for (const std::string& addr : config.cluster.start_join_addrs) {
    absl::StatusOr<std::vector<discovery::Member>> members =
        discovery::ListMembers(addr, config.cluster.gossip_key, absl::Seconds(1));
    if (!members.ok()) continue;
    for (const discovery::Member& member : *members) {
      if (member.name == config.node_name && member.address != config.cluster.bind_addr &&
          member.status == discovery::MemberStatus::kAlive) {
        return absl::AlreadyExistsError(
            absl::StrCat("node name ", config.node_name, " is taken: the member at ",
                         member.address, " is alive with it; give this node another --node-name"));
      }
    }
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

class ClusterNode final : public Node {
 public:
  explicit ClusterNode(Config config) : config_(std::move(config)) {}
  ~ClusterNode() override { (void)Close(); }

  absl::Status Start();

  absl::StatusOr<uint64_t> Append(std::string_view value) override;
  absl::StatusOr<log::Record> Read(uint64_t offset) override;
  std::string RpcAddress() const override { return rpc_addr_; }
  std::string GossipAddress() const override {
    return gossip_ != nullptr ? gossip_->Address() : "";
  }
  absl::Status Close() override;

 private:
  absl::Status StartGossip();
  // The host others use to reach this node: --advertise-host, else the RPC host.
  std::string AdvertiseHost() const {
    return config_.cluster.advertise_host.empty() ? config_.rpc_host
                                                  : config_.cluster.advertise_host;
  }
  // Writes the cluster id the transport adopted into the identity file.
  void KeepClusterId(uint64_t cluster_id);

  const Config config_;
  std::unique_ptr<IdentityFile> identity_file_;
  Identity identity_;        // cluster_id as loaded; the transport holds the live one
  absl::Mutex identity_mu_;  // serializes identity file writes
  std::string rpc_addr_;
  PeerTls peer_tls_;
  PeerDirectory peers_;
  std::unique_ptr<mux::Mux> mux_;
  std::unique_ptr<mux::RaftTransport> transport_;
  std::unique_ptr<ReplicatedLog> log_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<discovery::Membership> gossip_;
  // Declared after what they read, so they go first.
  telemetry::CollectorHandle mux_metrics_;
  telemetry::CollectorHandle gossip_metrics_;
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status ClusterNode::Start() {
  const ClusterConfig& cluster = config_.cluster;
  if (cluster.bind_addr.empty()) {
    return absl::InvalidArgumentError("a cluster node needs a gossip bind address (--bind-addr)");
  }
  const std::string advertise_host = AdvertiseHost();
  if (IsWildcard(advertise_host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rpc host ", config_.rpc_host,
        " is a wildcard address: set --advertise-host to the host other nodes and clients use"));
  }
  if (absl::Status kind = CheckDataDirKind(config_.data_dir, /*cluster=*/true); !kind.ok()) {
    return kind;
  }
  absl::StatusOr<PeerTls> tls = LoadPeerTls(cluster);
  if (!tls.ok()) return tls.status();
  peer_tls_ = *std::move(tls);

  mux::Options mux_options;
  mux_options.address = absl::StrCat(config_.rpc_host, ":", config_.rpc_port);
  mux_options.grpc_tls = config_.server_credentials != nullptr;
  mux_options.raft_tls = peer_tls_.accept.get();
  absl::StatusOr<std::unique_ptr<mux::Mux>> mux = mux::Mux::Listen(mux_options);
  if (!mux.ok()) return mux.status();
  mux_ = *std::move(mux);
  mux_metrics_ = internal::RegisterMuxMetrics(config_.log.metrics, mux_.get());
  rpc_addr_ = absl::StrCat(advertise_host, ":", mux_->Port());

  // Before the Raft storage opens: whether it is new decides the identity.
  identity_file_ = std::make_unique<IdentityFile>(config_.data_dir / "raft");
  absl::StatusOr<Identity> identity =
      identity_file_->LoadOrCreate(config_.node_name, cluster.bootstrap);
  if (!identity.ok()) return identity.status();
  identity_ = *identity;

  mux::RaftTransportOptions transport_options;
  transport_options.node_id = identity_.raft_id;
  transport_options.cluster_id = identity_.cluster_id;
  transport_options.on_cluster_id = [this](uint64_t cluster_id) { KeepClusterId(cluster_id); };
  transport_options.resolve = [this](uint64_t peer) -> std::optional<std::string> {
    std::string addr = peers_.RpcAddressOf(peer);
    if (addr.empty()) return std::nullopt;
    return addr;
  };
  // log_ is set below, before the mux hands over any connection.
  transport_options.deliver = [this](raft::Message m) { log_->Receive(std::move(m)); };
  transport_options.delivered = [this] { log_->ProcessReceived(); };
  transport_options.dial_tls = peer_tls_.connect.get();
  transport_ = std::make_unique<mux::RaftTransport>(std::move(transport_options));

  if (absl::Status s = CheckNameIsFree(config_); !s.ok()) return s;

  ReplicatedLogOptions log_options;
  log_options.node_name = config_.node_name;
  log_options.raft_id = identity_.raft_id;
  log_options.rpc_addr = rpc_addr_;
  log_options.bootstrap = cluster.bootstrap;
  log_options.heartbeat_interval = absl::FromChrono(cluster.heartbeat_interval);
  log_options.election_timeout = absl::FromChrono(cluster.election_timeout);
  log_options.log = config_.log;
  log_options.retention_interval = absl::FromChrono(config_.retention_interval);
  log_options.tracing = config_.tracer != nullptr;
  absl::StatusOr<std::unique_ptr<ReplicatedLog>> log = ReplicatedLog::Open(
      config_.data_dir / "raft", std::move(log_options), transport_.get(), &peers_);
  if (!log.ok()) return log.status();
  log_ = *std::move(log);

  server::Options options;
  options.no_listener = true;  // the mux hands the server its connections
  options.advertise_address = rpc_addr_;
  options.credentials = config_.server_credentials;
  options.authorizer = config_.authorizer;
  options.node_id = config_.node_name;
  options.max_record_bytes = config_.log.max_record_bytes;
  options.compat_original_codes = config_.compat_original_codes;
  if (config_.log.metrics != nullptr) options.metrics = config_.log.metrics;  // the node's
  options.tracer = config_.tracer;  // the node's own; null: no tracing
  absl::StatusOr<std::unique_ptr<server::Server>> server =
      server::Server::Start(log_.get(), std::move(options));
  if (!server.ok()) return server.status();
  server_ = *std::move(server);

  log_->Start();
  if (absl::Status s = mux_->Start(
          [this](int fd) { return server_->AddConnection(fd); },
          [this](std::unique_ptr<mux::Stream> stream) { transport_->Accept(std::move(stream)); });
      !s.ok()) {
    return s;
  }
  return StartGossip();
}

absl::Status ClusterNode::StartGossip() {
  discovery::Member self;
  self.name = config_.node_name;
  self.tags = {{kRpcAddrTag, rpc_addr_}, {kRaftIdTag, std::to_string(identity_.raft_id)}};
  peers_.Update(self);
  discovery::Config config;
  config.node_name = config_.node_name;
  config.bind_addr = config_.cluster.bind_addr;
  // Bound to a wildcard, gossip advertises the host others use for this node
  // (the RPC port's advertise host) with the bound port.
  const size_t colon = config.bind_addr.rfind(':');
  if (colon != std::string::npos && IsWildcard(config.bind_addr.substr(0, colon))) {
    config.advertise_addr = absl::StrCat(AdvertiseHost(), ":", config.bind_addr.substr(colon + 1));
  }
  config.tags = self.tags;
  config.start_join_addrs = config_.cluster.start_join_addrs;
  config.encrypt_key = config_.cluster.gossip_key;
  absl::StatusOr<std::unique_ptr<discovery::Membership>> gossip =
      discovery::Membership::Start(std::move(config), [this](const discovery::MemberEvent& event) {
        if (config_.cluster.on_member_event) config_.cluster.on_member_event(event);
        if (event.type == discovery::EventType::kReap) {
          peers_.Remove(event.member.name);
        } else {
          peers_.Update(event.member);
        }
      });
  if (!gossip.ok()) {
    return absl::Status(gossip.status().code(),
                        absl::StrCat("cannot start gossip on ", config_.cluster.bind_addr, ": ",
                                     gossip.status().message()));
  }
  gossip_ = *std::move(gossip);
  gossip_metrics_ = internal::RegisterGossipMetrics(config_.log.metrics, gossip_.get());
  for (const discovery::Member& member : gossip_->Members()) peers_.Update(member);
  return absl::OkStatus();
}

void ClusterNode::KeepClusterId(uint64_t cluster_id) {
  absl::MutexLock lock(&identity_mu_);
  Identity adopted = identity_;
  adopted.cluster_id = cluster_id;
  if (absl::Status s = identity_file_->Save(adopted); !s.ok()) {
    // The id stays in force in memory; the next start adopts it again.
    spdlog::error("raft: cannot record cluster id {}: {}", cluster_id, s.ToString());
  }
}

absl::StatusOr<uint64_t> ClusterNode::Append(std::string_view value) {
  auto result = std::make_shared<std::promise<absl::StatusOr<uint64_t>>>();
  std::future<absl::StatusOr<uint64_t>> done = result->get_future();
  absl::Status accepted =
      log_->Append(server::NewRecord{std::string(value)},
                   [result](const absl::StatusOr<uint64_t>& offset) { result->set_value(offset); });
  if (!accepted.ok()) return accepted;
  return done.get();
}

absl::StatusOr<log::Record> ClusterNode::Read(uint64_t offset) {
  absl::StatusOr<server::Record> record = log_->Read(offset);
  if (!record.ok()) return record.status();
  return log::Record{std::move(record->value), record->offset, record->term, record->type};
}

absl::Status ClusterNode::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  // A leader hands over first, so the cluster keeps taking writes.
  if (log_ != nullptr && log_->IsLeader()) {
    if (absl::Status s = log_->TransferLeadership(kTransferTimeout); !s.ok()) {
      spdlog::warn("raft: {}", s.ToString());
    }
  }
  if (gossip_ != nullptr) {
    // Gracefully, so the others see this node as left rather than failed.
    if (absl::Status s = gossip_->Leave(); !s.ok()) {
      spdlog::warn("gossip leave incomplete: {}", s.ToString());
    } else {
      spdlog::info("left the gossip cluster");
    }
    gossip_->Shutdown();
  }
  if (mux_ != nullptr) mux_->StopAccepting();
  if (server_ != nullptr) server_->Shutdown();
  absl::Status status;
  if (log_ != nullptr) status = log_->Stop();
  if (transport_ != nullptr) transport_->Close();
  if (mux_ != nullptr) mux_->Shutdown();
  return status;
}

}  // namespace

absl::Status CheckDataDirKind(const std::filesystem::path& data_dir, bool cluster) {
  std::error_code error;
  const bool has_raft = std::filesystem::exists(data_dir / "raft", error);
  const bool has_log = std::filesystem::exists(data_dir / "log", error);
  if (cluster && has_log && !has_raft) {
    return absl::InvalidArgumentError(
        absl::StrCat("data dir ", data_dir.string(),
                     " holds the log of a node that was not in a cluster (its log/ folder); "
                     "use another data dir for a cluster node"));
  }
  if (!cluster && has_raft) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data dir ", data_dir.string(),
        " holds the log of a cluster node (its raft/ folder); open it with the cluster enabled"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Node>> OpenClusterNode(Config config) {
  auto node = std::make_unique<ClusterNode>(std::move(config));
  if (absl::Status s = node->Start(); !s.ok()) {
    (void)node->Close();
    return s;
  }
  return node;
}

}  // namespace proglog::node::internal
