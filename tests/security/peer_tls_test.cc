// Peer links: two SSL_CTX from peer TlsConfigs handshake over real loopback
// TCP sockets with mutual verification; wrong, missing and expired
// certificates are refused by the other end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/security/tls_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using testing::Pki;

// A connected pair of loopback TCP sockets; reads and writes time out so a
// failed handshake can never hang the test.
struct SocketPair {
  int accepted = -1;
  int connected = -1;
  SocketPair() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // any free port
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    socklen_t len = sizeof(addr);
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    connected = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(connected, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(accepted, 0);
    close(listener);
    timeval timeout{10, 0};
    for (int fd : {accepted, connected}) {
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    }
  }
  ~SocketPair() {
    close(accepted);
    close(connected);
  }
};

struct SideResult {
  bool handshake_ok = false;
  std::string error;
  absl::StatusOr<std::string> peer_cn = absl::UnknownError("no handshake");
  std::string received;
};

std::string ReadExactly(SSL* ssl, size_t n) {
  std::string data(n, '\0');
  size_t got = 0;
  while (got < n) {
    int r = SSL_read(ssl, data.data() + got, static_cast<int>(n - got));
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  data.resize(got);
  return data;
}

// The acceptor answers "pong" to "ping"; the connector sends "ping" and waits
// for the answer, so each side's result shows whether data actually flowed.
void Accept(SSL_CTX* ctx, int fd, SideResult* result) {
  SslPtr ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) != 1) {
    result->error = DrainOpenSslErrors();
    return;
  }
  result->handshake_ok = true;
  result->peer_cn = PeerCommonName(ssl.get());
  result->received = ReadExactly(ssl.get(), 4);
  if (result->received == "ping") SSL_write(ssl.get(), "pong", 4);
  SSL_shutdown(ssl.get());
}

void Connect(SSL_CTX* ctx, int fd, SideResult* result) {
  SslPtr ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) != 1) {
    result->error = DrainOpenSslErrors();
    return;
  }
  result->handshake_ok = true;
  result->peer_cn = PeerCommonName(ssl.get());
  if (SSL_write(ssl.get(), "ping", 4) == 4) result->received = ReadExactly(ssl.get(), 4);
  if (result->received.empty()) result->error = DrainOpenSslErrors();
}

struct LinkResult {
  SideResult acceptor;
  SideResult connector;
};

LinkResult Link(SSL_CTX* accept_ctx, SSL_CTX* connect_ctx) {
  SocketPair sockets;
  LinkResult result;
  std::thread acceptor([&] { Accept(accept_ctx, sockets.accepted, &result.acceptor); });
  Connect(connect_ctx, sockets.connected, &result.connector);
  // The connector may finish first when the acceptor refuses it; closing our
  // end is not needed for the acceptor to finish, its handshake ends on the alert.
  acceptor.join();
  return result;
}

SslCtxPtr PeerContext(const TlsFiles& files, HandshakeSide side) {
  auto config = TlsConfig::Load(TlsRole::kPeer, files);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  auto ctx = NewPeerSslContext(*config, side);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *std::move(ctx) : nullptr;
}

// A connecting context built by hand, for certificates TlsConfig would refuse
// to load (expired) or for no certificate at all.
SslCtxPtr RawConnectContext(const std::filesystem::path& ca, const TlsFiles* own) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (own != nullptr) {
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), own->cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), own->key_file.c_str(), SSL_FILETYPE_PEM), 1);
  }
  return ctx;
}

TEST(PeerTls, MutuallyVerifiedLinkCarriesDataAndNamesBothEnds) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr a = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  SslCtxPtr b = PeerContext(pki.Issue(TlsRole::kPeer, "node-b"), HandshakeSide::kConnect);
  ASSERT_TRUE(a && b);
  LinkResult link = Link(a.get(), b.get());
  ASSERT_TRUE(link.acceptor.handshake_ok) << link.acceptor.error;
  ASSERT_TRUE(link.connector.handshake_ok) << link.connector.error;
  EXPECT_EQ(link.acceptor.received, "ping");
  EXPECT_EQ(link.connector.received, "pong");
  ASSERT_TRUE(link.acceptor.peer_cn.ok()) << link.acceptor.peer_cn.status();
  EXPECT_EQ(*link.acceptor.peer_cn, "node-b");
  ASSERT_TRUE(link.connector.peer_cn.ok()) << link.connector.peer_cn.status();
  EXPECT_EQ(*link.connector.peer_cn, "node-a");
}

TEST(PeerTls, ConnectorFromAnotherCaIsRefused) {
  ScratchDir dir_a;
  ScratchDir dir_b;
  Pki cluster(dir_a.path());
  Pki other(dir_b.path());
  SslCtxPtr a = PeerContext(cluster.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  // The intruder trusts the cluster CA (so it would accept node-a) but its own
  // certificate comes from another CA.
  TlsFiles intruder = other.Issue(TlsRole::kPeer, "node-b");
  SslCtxPtr b = RawConnectContext(cluster.ca_file(), &intruder);
  LinkResult link = Link(a.get(), b.get());
  EXPECT_FALSE(link.acceptor.handshake_ok);
  EXPECT_THAT(link.acceptor.error, HasSubstr("certificate verify failed"));
  EXPECT_EQ(link.connector.received, "");
}

TEST(PeerTls, AcceptorFromAnotherCaIsRefused) {
  ScratchDir dir_a;
  ScratchDir dir_b;
  Pki cluster(dir_a.path());
  Pki other(dir_b.path());
  TlsFiles impostor = other.Issue(TlsRole::kPeer, "node-a");
  impostor.ca_file = other.ca_file();
  SslCtxPtr a = PeerContext(impostor, HandshakeSide::kAccept);
  SslCtxPtr b = PeerContext(cluster.Issue(TlsRole::kPeer, "node-b"), HandshakeSide::kConnect);
  LinkResult link = Link(a.get(), b.get());
  EXPECT_FALSE(link.connector.handshake_ok);
  EXPECT_THAT(link.connector.error, HasSubstr("certificate verify failed"));
  EXPECT_EQ(link.acceptor.received, "");
}

TEST(PeerTls, ConnectorWithoutCertificateIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr a = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  SslCtxPtr b = RawConnectContext(pki.ca_file(), nullptr);
  LinkResult link = Link(a.get(), b.get());
  EXPECT_FALSE(link.acceptor.handshake_ok);
  EXPECT_THAT(link.acceptor.error, HasSubstr("peer did not return a certificate"));
  EXPECT_EQ(link.connector.received, "");
}

TEST(PeerTls, ExpiredConnectorCertificateIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr a = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  IssueOptions options;
  options.role = TlsRole::kPeer;
  options.common_name = "node-old";
  auto now = std::chrono::system_clock::now();
  options.not_before = now - std::chrono::hours(48);
  options.not_after = now - std::chrono::hours(1);
  TlsFiles expired = pki.IssueWith(options);
  SslCtxPtr b = RawConnectContext(pki.ca_file(), &expired);
  LinkResult link = Link(a.get(), b.get());
  EXPECT_FALSE(link.acceptor.handshake_ok);
  EXPECT_THAT(link.acceptor.error, HasSubstr("certificate verify failed"));
  EXPECT_EQ(link.connector.received, "");
}

TEST(PeerTls, ServerOnlyCertificateCannotConnectAsPeer) {
  ScratchDir dir;
  Pki pki(dir.path());
  SslCtxPtr a = PeerContext(pki.Issue(TlsRole::kPeer, "node-a"), HandshakeSide::kAccept);
  // A server certificate lacks clientAuth, so the acceptor must not take it
  // from a connecting peer.
  TlsFiles server_only = pki.Issue(TlsRole::kServer, "node-s");
  SslCtxPtr b = RawConnectContext(pki.ca_file(), &server_only);
  LinkResult link = Link(a.get(), b.get());
  EXPECT_FALSE(link.acceptor.handshake_ok);
  EXPECT_EQ(link.connector.received, "");
}

}  // namespace
}  // namespace proglog::security
