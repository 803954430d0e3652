// The port mux with real sockets, a real gRPC server and real TLS: gRPC
// health checks pass through it in plaintext and TLS, gRPC serves the client's
// own TCP connection (no relay in between), Raft byte streams reach
// the Raft handler in plaintext and over mutual TLS, a peer from another CA is
// refused, logged and counted, garbage and silent connections do not stop
// service, and the process listens on one TCP port only.
#include "core/mux/mux.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/mux/closing_peer.h"
#include "core/security/grpc_credentials.h"
#include "core/security/tls_config.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "proto/log/v1/wire.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::mux {
namespace {

using ::proglog::testing::ScratchDir;
using security::HandshakeSide;
using security::SslCtxPtr;
using security::TlsConfig;
using security::TlsFiles;
using security::TlsRole;
using security::testing::Pki;
using ::testing::HasSubstr;

using ::proglog::testing::PollUntil;

// A unary call of `method` with an empty request; the response's bytes.
absl::StatusOr<std::string> EmptyUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                                           const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, method, request, &queue);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  if (!status.ok()) return absl::UnknownError(status.error_message());
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

// grpc.health.v1.Health/Check with the empty request; true when SERVING.
bool HealthServing(const std::shared_ptr<grpc::Channel>& channel, std::string* error = nullptr) {
  absl::StatusOr<std::string> response = EmptyUnaryCall(channel, "/grpc.health.v1.Health/Check");
  if (!response.ok()) {
    if (error != nullptr) *error = std::string(response.status().message());
    return false;
  }
  return *response == std::string("\x08\x01", 2);  // HealthCheckResponse{status: SERVING}
}

// Answers every generic call with the peer gRPC sees (ServerContext::peer()).
class PeerEchoService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& peer) {
        grpc::Slice slice(peer);
        response_ = grpc::ByteBuffer(&slice, 1);
        StartRead(&request_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
          return;
        }
        StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer request_;
      grpc::ByteBuffer response_;
    };
    return new Reactor(context->peer());
  }
};

// The peer the server saw, from PeerEchoService; "" on error.
std::string PeerSeenByServer(const std::shared_ptr<grpc::Channel>& channel) {
  return EmptyUnaryCall(channel, "/test.Peer/Get").value_or("");
}

SslCtxPtr PeerContext(const TlsFiles& files, HandshakeSide side) {
  auto config = TlsConfig::Load(TlsRole::kPeer, files);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  auto ctx = security::NewPeerSslContext(*config, side);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *std::move(ctx) : nullptr;
}

// Streams the mux handed to Raft; each answers "pong" to "ping".
class RaftEcho {
 public:
  ~RaftEcho() {
    absl::MutexLock lock(&mu_);
    for (auto& s : streams_) s->Shutdown();
    mu_.Unlock();
    for (auto& t : threads_) t.join();
    mu_.Lock();
  }
  RaftHandler Handler() {
    return [this](std::unique_ptr<Stream> stream) {
      absl::MutexLock lock(&mu_);
      Stream* raw = stream.get();
      peer_names_.push_back(raw->PeerName());
      streams_.push_back(std::move(stream));
      threads_.emplace_back([raw] {
        char buf[4];
        size_t got = 0;
        while (got < 4) {
          auto n = raw->Read(buf + got, 4 - got);
          if (!n.ok() || *n == 0) return;
          got += *n;
        }
        if (std::string(buf, 4) == "ping") raw->Write("pong").IgnoreError();
      });
    };
  }
  size_t Count() {
    absl::MutexLock lock(&mu_);
    return streams_.size();
  }
  std::vector<std::string> PeerNames() {
    absl::MutexLock lock(&mu_);
    return peer_names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::thread> threads_;
  std::vector<std::string> peer_names_;
};

// "pong" when the far end answered, else the error.
std::string PingPong(const std::string& address, SSL_CTX* tls) {
  auto stream = DialRaft(address, tls, std::chrono::seconds(5));
  if (!stream.ok()) return stream.status().ToString();
  if (auto s = (*stream)->Write("ping"); !s.ok()) return s.ToString();
  char buf[4];
  size_t got = 0;
  while (got < 4) {
    auto n = (*stream)->Read(buf + got, 4 - got);
    if (!n.ok()) return n.status().ToString();
    if (*n == 0) return "closed";
    got += *n;
  }
  return std::string(buf, 4);
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// Ports of TCP sockets in LISTEN state that this process owns.
std::set<int> OwnListeningTcpPorts() {
  std::set<std::string> inodes;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) {
      char target[256];
      std::string path = std::string("/proc/self/fd/") + e->d_name;
      ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      std::string link(target, static_cast<size_t>(n));
      if (link.rfind("socket:[", 0) == 0) inodes.insert(link.substr(8, link.size() - 9));
    }
    closedir(dir);
  }
  std::set<int> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retrnsmt, uid, timeout, inode;
      fields >> sl >> local >> remote >> state >> queues >> timer >> retrnsmt >> uid >> timeout >>
          inode;
      if (state != "0A" || !inodes.contains(inode)) continue;  // 0A: LISTEN
      ports.insert(std::stoi(local.substr(local.rfind(':') + 1), nullptr, 16));
    }
  }
  return ports;
}

// A mux with a gRPC server (health service only) behind it, plaintext or TLS.
class MuxFixture {
 public:
  struct Setup {
    const TlsFiles* server_tls = nullptr;  // TLS for gRPC
    SSL_CTX* raft_tls = nullptr;
    std::chrono::milliseconds handshake_timeout{5000};
  };

  explicit MuxFixture(Setup setup) {
    Options options;
    options.grpc_tls = setup.server_tls != nullptr;
    options.raft_tls = setup.raft_tls;
    options.handshake_timeout = setup.handshake_timeout;
    auto mux = Mux::Listen(options);
    EXPECT_TRUE(mux.ok()) << mux.status();
    mux_ = *std::move(mux);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (setup.server_tls != nullptr) {
      auto config = TlsConfig::Load(TlsRole::kServer, *setup.server_tls);
      EXPECT_TRUE(config.ok()) << config.status();
      credentials = security::GrpcServerCredentials(*config);
    }
    // What server::Server does with no_listener: no port, connections handed in.
    acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
    builder.RegisterCallbackGenericService(&generic_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    server_->GetHealthCheckService()->SetServingStatus(true);
    auto grpc_handler = [this](int fd) {
      grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
      connection.fd = fd;
      acceptor_->HandleNewConnection(&connection);
      return absl::OkStatus();
    };
    EXPECT_TRUE(mux_->Start(grpc_handler, echo_.Handler()).ok());
  }

  ~MuxFixture() {
    mux_->StopAccepting();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    mux_->Shutdown();
  }

  Mux& mux() { return *mux_; }
  RaftEcho& echo() { return echo_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(mux_->Port()); }

 private:
  RaftEcho echo_;
  PeerEchoService generic_;
  std::unique_ptr<Mux> mux_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<grpc::Server> server_;
};

std::shared_ptr<grpc::Channel> PlainChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const TlsFiles& client) {
  auto config = TlsConfig::Load(TlsRole::kClient, client);
  EXPECT_TRUE(config.ok()) << config.status();
  return grpc::CreateChannel(address, security::GrpcChannelCredentials(*config));
}

TEST(Mux, PlaintextGrpcHealthCheckPassesThrough) {
  MuxFixture f({});
  std::string error;
  EXPECT_TRUE(HealthServing(PlainChannel(f.Address()), &error)) << error;
  EXPECT_EQ(f.mux().GetStats().grpc, 1u);
  EXPECT_EQ(f.mux().GetStats().raft, 0u);
}

TEST(Mux, TlsGrpcHealthCheckPassesThroughWithClientCertificate) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles server = pki.Issue(TlsRole::kServer, "server");
  MuxFixture f({.server_tls = &server});
  std::string error;
  EXPECT_TRUE(HealthServing(TlsChannel(f.Address(), pki.Issue(TlsRole::kClient, "root")), &error))
      << error;
  EXPECT_EQ(f.mux().GetStats().grpc, 1u);
  // gRPC's own TLS still demands a client certificate: a client without one is refused.
  auto ca_only = grpc::SslCredentialsOptions();
  ca_only.pem_root_certs = security::testing::ReadFile(pki.ca_file());
  EXPECT_FALSE(HealthServing(grpc::CreateChannel(f.Address(), grpc::SslCredentials(ca_only))));
}

// gRPC serves the accepted socket itself: the peer it sees is the client's
// TCP address, not a relay's, in plaintext and behind TLS alike.
TEST(Mux, GrpcSeesTheClientsOwnTcpConnection) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles server = pki.Issue(TlsRole::kServer, "server");
  MuxFixture tls({.server_tls = &server});
  EXPECT_THAT(PeerSeenByServer(TlsChannel(tls.Address(), pki.Issue(TlsRole::kClient, "root"))),
              ::testing::StartsWith("ipv4:127.0.0.1:"));
  MuxFixture plain({});
  EXPECT_THAT(PeerSeenByServer(PlainChannel(plain.Address())),
              ::testing::StartsWith("ipv4:127.0.0.1:"));
  EXPECT_EQ(tls.mux().GetStats().grpc, 1u);
  EXPECT_EQ(plain.mux().GetStats().grpc, 1u);
}

// A mux whose gRPC handler refuses every connection, as a server shutting down does.
std::unique_ptr<Mux> MuxRefusingGrpc(const Options& options) {
  auto mux = Mux::Listen(options);
  EXPECT_TRUE(mux.ok()) << mux.status();
  if (!mux.ok()) return nullptr;
  const absl::Status started = (*mux)->Start(
      [](int fd) {
        close(fd);
        return absl::UnavailableError("server is shutting down");
      },
      nullptr);
  EXPECT_TRUE(started.ok()) << started;
  return *std::move(mux);
}

// A connection the gRPC handler refuses is counted as unserved, not as gRPC.
TEST(Mux, AConnectionTheGrpcHandlerRefusesIsUnserved) {
  std::unique_ptr<Mux> mux = MuxRefusingGrpc(Options{});
  ASSERT_NE(mux, nullptr);
  EXPECT_FALSE(HealthServing(PlainChannel("127.0.0.1:" + std::to_string(mux->Port()))));
  EXPECT_TRUE(PollUntil([&] { return mux->GetStats().unserved >= 1; }));
  EXPECT_EQ(mux->GetStats().grpc, 0u);
}

// With TLS the mux watches what it hands over; a connection the handler
// refused is not kept open by that watch: its client learns of the close at once.
TEST(Mux, ATlsConnectionTheGrpcHandlerRefusesClosesAtOnce) {
  std::unique_ptr<Mux> mux = MuxRefusingGrpc({.grpc_tls = true});
  ASSERT_NE(mux, nullptr);
  const int fd = ConnectTo(mux->Port());
  timeval timeout{.tv_sec = 5, .tv_usec = 0};  // half of what the watch would last
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
  ASSERT_EQ(send(fd, "\x16", 1, MSG_NOSIGNAL), 1);  // a TLS record's first byte
  char byte;
  const ssize_t got = recv(fd, &byte, 1, 0);
  const int error = errno;
  // Closed with the peeked byte unread, the socket resets; a timeout would be EAGAIN.
  EXPECT_TRUE(got == 0 || (got < 0 && error == ECONNRESET)) << got << " " << std::strerror(error);
  close(fd);
  EXPECT_EQ(mux->GetStats().unserved, 1u);
}

// gRPC names no peer when it refuses a TLS handshake; the mux's watcher that
// sees gRPC shut the connection down does (core/mux/closing_peer.h).
TEST(Mux, TheWatcherNamesTheClientWhoseHandshakeGrpcRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles server = pki.Issue(TlsRole::kServer, "server");
  MuxFixture f({.server_tls = &server});
  absl::Mutex mu;
  std::optional<std::string> named;
  // A window of an hour: only the watcher's report (or the mux stopping) answers it.
  internal::ClosingPeers::Get().Await(
      [&](std::string peer) {
        absl::MutexLock lock(&mu);
        named = std::move(peer);
      },
      internal::ClosingPeers::Clock::now() + std::chrono::hours(1));
  const int fd = ConnectTo(f.mux().Port());
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
  // A TLS handshake record header, then bytes that are no ClientHello.
  const std::string not_a_client_hello("\x16\x03\x01\x00\x05hello, not a ClientHello", 29);
  send(fd, not_a_client_hello.data(), not_a_client_hello.size(), MSG_NOSIGNAL);
  char sink[256];
  while (recv(fd, sink, sizeof(sink), 0) > 0) {
  }
  close(fd);
  EXPECT_TRUE(PollUntil([&] {
    absl::MutexLock lock(&mu);
    return named.has_value();
  }));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(named.value_or("(none)"), "127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
}

TEST(Mux, PlaintextRaftStreamReachesHandler) {
  MuxFixture f({});
  EXPECT_EQ(PingPong(f.Address(), nullptr), "pong");
  EXPECT_EQ(f.echo().Count(), 1u);
  EXPECT_EQ(f.mux().GetStats().raft, 1u);
}

TEST(Mux, MutualTlsRaftStreamReachesHandlerWithPeerName) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr accept = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  SslCtxPtr connect = PeerContext(pki.Issue(TlsRole::kPeer, "node-b"), HandshakeSide::kConnect);
  TlsFiles server = pki.Issue(TlsRole::kServer, "server");
  MuxFixture f({.server_tls = &server, .raft_tls = accept.get()});
  EXPECT_EQ(PingPong(f.Address(), connect.get()), "pong");
  EXPECT_THAT(f.echo().PeerNames(), ::testing::ElementsAre("node-b"));
  // gRPC keeps working beside it on the same port.
  EXPECT_TRUE(HealthServing(TlsChannel(f.Address(), pki.Issue(TlsRole::kClient, "root"))));
}

TEST(Mux, RaftPeerFromAnotherCaIsRefusedLoggedAndCounted) {
  ScratchDir dir_a;
  ScratchDir dir_b;
  Pki cluster(dir_a.path());
  Pki other(dir_b.path());
  SslCtxPtr accept = PeerContext(cluster.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  // The intruder trusts the cluster CA but its certificate comes from another CA.
  TlsFiles intruder = other.Issue(TlsRole::kPeer, "intruder");
  intruder.ca_file = cluster.ca_file();
  SslCtxPtr connect(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_load_verify_locations(connect.get(), cluster.ca_file().c_str(), nullptr);
  SSL_CTX_set_verify(connect.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_use_certificate_chain_file(connect.get(), intruder.cert_file.c_str());
  SSL_CTX_use_PrivateKey_file(connect.get(), intruder.key_file.c_str(), SSL_FILETYPE_PEM);

  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("mux-test", sink));

  MuxFixture f({.raft_tls = accept.get()});
  EXPECT_NE(PingPong(f.Address(), connect.get()), "pong");
  EXPECT_TRUE(PollUntil([&] { return f.mux().GetStats().raft_tls_refused == 1; }));
  EXPECT_EQ(f.echo().Count(), 0u);
  std::string logged;
  for (const std::string& line : sink->last_formatted()) logged += line;
  spdlog::set_default_logger(previous);
  EXPECT_THAT(logged, HasSubstr("refused Raft peer"));
  EXPECT_THAT(logged, HasSubstr("certificate verify failed"));
  // A peer from the right CA still gets through afterwards.
  SslCtxPtr good = PeerContext(cluster.Issue(TlsRole::kPeer, "node-b"), HandshakeSide::kConnect);
  EXPECT_EQ(PingPong(f.Address(), good.get()), "pong");
}

TEST(Mux, GarbageAfterRaftByteIsDroppedAndCounted) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr accept = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  MuxFixture f({.raft_tls = accept.get()});
  int fd = ConnectTo(f.mux().Port());
  const std::string garbage = "\x01GET / HTTP/1.1\r\n\r\nthis is not a TLS record at all";
  ASSERT_EQ(send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(garbage.size()));
  EXPECT_TRUE(PollUntil([&] { return f.mux().GetStats().raft_garbage == 1; }));
  char c;
  EXPECT_LE(recv(fd, &c, 1, 0), 0) << "the mux closed the connection";
  close(fd);
  EXPECT_EQ(f.echo().Count(), 0u);
}

TEST(Mux, GarbageAndSilentConnectionsDoNotStopService) {
  MuxFixture f({.handshake_timeout = std::chrono::milliseconds(300)});
  std::vector<int> silent;
  for (int i = 0; i < 20; ++i) silent.push_back(ConnectTo(f.mux().Port()));
  int http = ConnectTo(f.mux().Port());
  const std::string junk = "GET / HTTP/1.0\r\n\r\n";
  send(http, junk.data(), junk.size(), MSG_NOSIGNAL);
  int noise = ConnectTo(f.mux().Port());
  send(noise, "\xff\xfe\x00garbage", 10, MSG_NOSIGNAL);
  close(ConnectTo(f.mux().Port()));  // connects and leaves at once

  // With twenty silent connections still open, both kinds of traffic get through.
  std::string error;
  EXPECT_TRUE(HealthServing(PlainChannel(f.Address()), &error)) << error;
  EXPECT_EQ(PingPong(f.Address(), nullptr), "pong");
  // The silent ones are closed after the handshake timeout.
  EXPECT_TRUE(PollUntil([&] { return f.mux().GetStats().timed_out == 20; }))
      << f.mux().GetStats().timed_out;
  EXPECT_TRUE(PollUntil([&] { return f.mux().GetStats().closed_early == 1; }));
  for (int fd : silent) {
    char c;
    EXPECT_LE(recv(fd, &c, 1, 0), 0);
    close(fd);
  }
  close(http);
  close(noise);
  EXPECT_TRUE(HealthServing(PlainChannel(f.Address()), &error)) << error;
}

TEST(Mux, OnlyOneTcpPortListens) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles server = pki.Issue(TlsRole::kServer, "server");
  SslCtxPtr accept = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  MuxFixture f({.server_tls = &server, .raft_tls = accept.get()});
  EXPECT_TRUE(HealthServing(TlsChannel(f.Address(), pki.Issue(TlsRole::kClient, "root"))));
  EXPECT_THAT(OwnListeningTcpPorts(), ::testing::ElementsAre(f.mux().Port()));
}

TEST(Mux, BusyPortIsAnError) {
  auto first = Mux::Listen({});
  ASSERT_TRUE(first.ok());
  Options options;
  options.address = "127.0.0.1:" + std::to_string((*first)->Port());
  auto second = Mux::Listen(options);
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
}

}  // namespace
}  // namespace proglog::mux
