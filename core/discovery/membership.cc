#include "core/discovery/membership.h"

#include "absl/strings/str_cat.h"
#include "core/discovery/engine.h"

namespace proglog::discovery {

absl::StatusOr<std::string> ParseGossipKey(const std::string& base64) {
  return Keyring::DecodeKey(base64);
}

const char* MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kLeaving:
      return "leaving";
    case MemberStatus::kLeft:
      return "left";
    case MemberStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kJoin:
      return "member-join";
    case EventType::kLeave:
      return "member-leave";
    case EventType::kFailed:
      return "member-failed";
    case EventType::kUpdate:
      return "member-update";
    case EventType::kReap:
      return "member-reap";
  }
  return "unknown";
}

namespace {

absl::Status ValidateConfig(const Config& c) {
  if (c.node_name.empty()) return absl::InvalidArgumentError("node name is required");
  if (EncodeTags(c.tags).size() > 512) {
    return absl::InvalidArgumentError("encoded tags exceed 512 bytes");
  }
  if (c.faults.udp_drop_rate < 0 || c.faults.udp_drop_rate >= 1) {
    return absl::InvalidArgumentError("udp_drop_rate must be in [0, 1)");
  }
  const Timings& t = c.timings;
  if (t.probe_interval <= absl::ZeroDuration() || t.gossip_interval <= absl::ZeroDuration() ||
      t.probe_timeout <= absl::ZeroDuration() || t.tcp_timeout <= absl::ZeroDuration() ||
      t.push_pull_interval <= absl::ZeroDuration() || t.reap_interval <= absl::ZeroDuration() ||
      t.reconnect_interval <= absl::ZeroDuration() || t.suspicion_mult < 1 ||
      t.suspicion_max_timeout_mult < 1 || t.retransmit_mult < 1 || t.gossip_nodes < 1 ||
      t.awareness_max_multiplier < 1 || t.join_retry_min <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timings must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

Membership::Membership(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Membership::~Membership() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Membership>> Membership::Start(Config config, EventHandler handler) {
  if (auto s = ValidateConfig(config); !s.ok()) return s;
  std::vector<Bytes> keys;
  if (!config.encrypt_key.empty()) keys.push_back(config.encrypt_key);
  auto keyring = Keyring::Create(std::move(keys));
  if (!keyring.ok()) return keyring.status();
  // Join addresses are resolved at each attempt: a name may resolve later.
  for (const std::string& addr : config.start_join_addrs) {
    if (absl::Status s = CheckHostPort(addr); !s.ok()) return s;
  }
  auto bind = ParseEndpoint(config.bind_addr);
  if (!bind.ok()) return bind.status();
  auto sockets = BindGossipSockets(*bind);
  if (!sockets.ok()) return sockets.status();
  Endpoint advertise = sockets->local;
  if (!config.advertise_addr.empty()) {
    auto a = ParseEndpoint(config.advertise_addr);
    if (!a.ok()) return a.status();
    advertise = *a;
    if (advertise.port == 0) advertise.port = sockets->local.port;
  }
  if (advertise.ip == Bytes(4, '\0')) {
    return absl::InvalidArgumentError("bound to 0.0.0.0: set an advertise address peers can reach");
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(handler), *std::move(keyring),
                                     *std::move(sockets), advertise);
  impl->StartThreads();
  return std::unique_ptr<Membership>(new Membership(std::move(impl)));
}

absl::Status Membership::Join(const std::vector<std::string>& addrs) { return impl_->Join(addrs); }
absl::Status Membership::Leave() { return impl_->Leave(); }
void Membership::Shutdown() { impl_->Shutdown(); }
std::vector<Member> Membership::Members() const { return impl_->Members(); }
Member Membership::Self() const { return impl_->Self(); }
std::string Membership::Address() const { return impl_->Address(); }
absl::Status Membership::SetTags(std::map<std::string, std::string> tags) {
  return impl_->SetTags(std::move(tags));
}
GossipStats Membership::Stats() const { return impl_->Stats(); }

absl::StatusOr<std::vector<Member>> ListMembers(const std::string& address, const std::string& key,
                                                absl::Duration timeout) {
  auto ep = ParseEndpoint(address);
  if (!ep.ok()) return ep.status();
  std::vector<Bytes> keys;
  if (!key.empty()) keys.push_back(key);
  auto keyring = Keyring::Create(std::move(keys));
  if (!keyring.ok()) return keyring.status();
  absl::Time deadline = absl::Now() + timeout;
  auto conn = ConnectTcp(*ep, deadline);
  if (!conn.ok()) return conn.status();
  // No nodes and no user state: the remote merges nothing and just answers.
  auto request = EncodeStreamMessage(EncodePushPull(PushPull{}), *keyring, true);
  if (!request.ok()) return request.status();
  if (auto s = WriteAll(conn->Get(), *request, deadline); !s.ok()) return s;
  auto reply = ReadStreamMessage(conn->Get(), *keyring, deadline);
  if (!reply.ok()) return reply.status();
  if (reply->type == MsgType::kErr) return absl::UnavailableError(reply->error);
  if (reply->type != MsgType::kPushPull) return absl::InvalidArgumentError("unexpected reply");
  std::set<std::string> left;
  if (!reply->push_pull.user_state.empty() &&
      static_cast<SerfType>(reply->push_pull.user_state[0]) == SerfType::kPushPull) {
    auto serf = DecodeSerfPushPull(std::string_view(reply->push_pull.user_state).substr(1));
    if (serf.ok()) left.insert(serf->left_members.begin(), serf->left_members.end());
  }
  std::vector<Member> members;
  for (const PushNodeState& n : reply->push_pull.nodes) {
    Member m;
    m.name = n.name;
    m.address = (n.addr.size() == 4 ? Endpoint{n.addr, n.port}.ToString() : "?");
    auto tags = DecodeTags(n.meta);
    if (tags.ok()) m.tags = *std::move(tags);
    switch (n.state) {
      case NodeState::kDead:
        m.status = MemberStatus::kFailed;
        break;
      case NodeState::kLeft:
        m.status = MemberStatus::kLeft;
        break;
      default:
        m.status = MemberStatus::kAlive;
    }
    if (left.count(n.name) > 0) m.status = MemberStatus::kLeft;
    members.push_back(std::move(m));
  }
  return members;
}

}  // namespace proglog::discovery
