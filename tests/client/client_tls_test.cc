// The client's TLS options reach the wire: against a gRPC server that demands
// mutual TLS, only a client with the right CA and a client certificate gets in.
// The server here implements only GetServers (the node has no TLS option yet);
// the handshake and certificate checks are gRPC's and OpenSSL's real ones.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/client/client.h"
#include "core/security/certificates.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::client {
namespace {

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ServersOnly : public logpb::v1::Log::Service {
  grpc::Status GetServers(grpc::ServerContext*, const logpb::v1::GetServersRequest*,
                          logpb::v1::GetServersResponse* response) override {
    response->add_servers()->set_id("tls-server");
    return grpc::Status::OK;
  }
};

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Make(security::CreateCertificateAuthority({.out_dir = dir_}));
    other_ca_ = Make(security::CreateCertificateAuthority(
        {.out_dir = dir_, .common_name = "other CA", .file_stem = "other-ca"}));
    auto server = Make(security::IssueCertificate(
        {.role = security::TlsRole::kServer, .common_name = "server", .out_dir = dir_}));
    client_ = Make(security::IssueCertificate(
        {.role = security::TlsRole::kClient, .common_name = "user", .out_dir = dir_}));

    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = Slurp(ca_.cert_file);
    ssl.pem_key_cert_pairs.push_back({Slurp(server.key_file), Slurp(server.cert_file)});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  security::CertificateFiles Make(absl::StatusOr<security::CertificateFiles> files) {
    EXPECT_TRUE(files.ok()) << files.status();
    return files.ok() ? *files : security::CertificateFiles{};
  }

  absl::StatusOr<std::vector<Server>> ServersWith(TlsOptions tls) {
    Options options;
    options.addresses = {address_};
    options.tls = std::move(tls);
    options.call_timeout = std::chrono::milliseconds(5000);
    auto client = Client::Open(options);
    if (!client.ok()) return client.status();
    return (*client)->GetServers();
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown and the members below
  const std::filesystem::path dir_ = scratch_.path();
  security::CertificateFiles ca_, other_ca_, client_;
  ServersOnly service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(ClientTlsTest, MutualTlsWithTheRightCaSucceeds) {
  auto servers = ServersWith({.enabled = true,
                              .ca_file = ca_.cert_file,
                              .cert_file = client_.cert_file,
                              .key_file = client_.key_file,
                              .server_name = "localhost"});
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_EQ(servers->size(), 1u);
  EXPECT_EQ((*servers)[0].id, "tls-server");
}

TEST_F(ClientTlsTest, AnyTlsFileTurnsTlsOn) {
  // `enabled` left false: the files alone ask for TLS, in every binding alike.
  auto servers = ServersWith({.ca_file = ca_.cert_file,
                              .cert_file = client_.cert_file,
                              .key_file = client_.key_file,
                              .server_name = "localhost"});
  ASSERT_TRUE(servers.ok()) << servers.status();
  EXPECT_EQ(servers->size(), 1u);
}

TEST_F(ClientTlsTest, MissingClientCertificateIsRefused) {
  auto servers =
      ServersWith({.enabled = true, .ca_file = ca_.cert_file, .server_name = "localhost"});
  EXPECT_FALSE(servers.ok());
}

TEST_F(ClientTlsTest, ServerFromAnotherCaIsNotTrusted) {
  auto servers = ServersWith({.enabled = true,
                              .ca_file = other_ca_.cert_file,
                              .cert_file = client_.cert_file,
                              .key_file = client_.key_file,
                              .server_name = "localhost"});
  // Not retryable, and it says why: another attempt would meet the same certificate.
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kUnauthenticated) << servers.status();
  EXPECT_NE(servers.status().message().find("did not verify"), std::string_view::npos)
      << servers.status();
}

TEST_F(ClientTlsTest, PlaintextClientCannotTalkToATlsServer) {
  auto servers = ServersWith({});
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kUnavailable) << servers.status();
}

TEST_F(ClientTlsTest, HalfAKeyPairIsInvalid) {
  auto servers = ServersWith({.enabled = true, .cert_file = client_.cert_file});
  EXPECT_EQ(servers.status().code(), absl::StatusCode::kInvalidArgument) << servers.status();
}

}  // namespace
}  // namespace proglog::client
