#include "core/client/channel_pool.h"

#include <climits>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read TLS ", what, " file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(const TlsOptions& tls) {
  if (!tls.On()) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("TLS cert_file and key_file must be given together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    auto ca = ReadFile(tls.ca_file, "CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    auto cert = ReadFile(tls.cert_file, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(tls.key_file, "key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments MakeArguments(const Options& options) {
  grpc::ChannelArguments args;
  if (options.tls.On() && !options.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls.server_name);
  }
  // A record the server accepted must fit in a reply: sized from the maximum
  // when it is configured; unlimited (-1) while it is only learned later, as
  // the server sends nothing larger than what it accepted.
  if (options.max_record_bytes > 0) {
    const uint64_t limit = options.max_record_bytes + kEnvelopeSlack;
    args.SetMaxReceiveMessageSize(limit > INT32_MAX ? -1 : static_cast<int>(limit));
  } else {
    args.SetMaxReceiveMessageSize(-1);
  }
  // Reconnect soon after a server comes back, rather than after gRPC's
  // defaults (a 20 s minimum, up to two minutes): the client's own retries
  // pace the attempts.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A failed connection makes the channel resolve its target again; the DNS
  // resolver's default cooldown (30 s) would hold a restarted server back.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 500);
  // gRPC shares connections between the channels of a process by default, and
  // with them their reconnect backoff: a new client to a server that has just
  // (re)started on a port would inherit another client's "connection refused".
  // Each client keeps its own.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChannelPool>> ChannelPool::Create(const Options& options) {
  auto credentials = MakeCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  return std::unique_ptr<ChannelPool>(
      new ChannelPool(*std::move(credentials), MakeArguments(options)));
}

ChannelPool::Entry ChannelPool::Get(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(address);
  if (it != entries_.end()) return it->second;
  auto channel = grpc::CreateCustomChannel(address, credentials_, args_);
  Entry entry{channel, std::make_shared<logpb::v1::Log::Stub>(channel),
              std::make_shared<logpb::v1::Batch::Stub>(channel)};
  // After Close, a call that was already under way gets a channel of its own,
  // which goes away with its stub.
  if (!closed_) entries_.emplace(address, entry);
  return entry;
}

void ChannelPool::Close() {
  std::map<std::string, Entry> entries;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    entries.swap(entries_);
  }
  // Each channel (and its connection) goes once the last stub using it does;
  // for idle channels that is here.
}

std::shared_ptr<grpc::Channel> ChannelPool::Channel(const std::string& address) {
  return Get(address).channel;
}

std::shared_ptr<logpb::v1::Log::Stub> ChannelPool::Stub(const std::string& address) {
  return Get(address).stub;
}

std::shared_ptr<logpb::v1::Batch::Stub> ChannelPool::BatchStub(const std::string& address) {
  return Get(address).batch;
}

}  // namespace proglog::client
