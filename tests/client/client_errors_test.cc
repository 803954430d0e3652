// ClassifyRpcFailure against real TLS handshakes: gRPC servers with mutual TLS
// and clients holding each kind of wrong certificate. Every refusal must come
// out as Unauthenticated naming its cause; a server that is simply down stays
// Unavailable (retryable).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "core/client/errors.h"
#include "core/security/certificates.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::client {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;

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

struct ClientCredentials {
  std::filesystem::path ca_file;  // empty: plaintext
  security::CertificateFiles identity;
  std::string server_name = "localhost";
};

class ClientErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Make(security::CreateCertificateAuthority({.out_dir = dir_}));
    other_ca_ = Make(security::CreateCertificateAuthority(
        {.out_dir = dir_, .common_name = "other CA", .file_stem = "other-ca"}));
    client_ = Make(security::IssueCertificate(
        {.role = security::TlsRole::kClient, .common_name = "user", .out_dir = dir_}));
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static security::CertificateFiles Make(absl::StatusOr<security::CertificateFiles> files) {
    EXPECT_TRUE(files.ok()) << files.status();
    return files.ok() ? *files : security::CertificateFiles{};
  }

  security::CertificateFiles Issue(security::IssueOptions options) {
    options.out_dir = dir_;
    return Make(security::IssueCertificate(options));
  }

  // Starts a server that requires a client certificate signed by ca_.
  void StartServer(const security::CertificateFiles& server_identity) {
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = Slurp(ca_.cert_file);
    ssl.pem_key_cert_pairs.push_back(
        {Slurp(server_identity.key_file), Slurp(server_identity.cert_file)});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  void StartServer() {
    StartServer(Issue({.role = security::TlsRole::kServer, .common_name = "server"}));
  }

  grpc::Status Call(const ClientCredentials& credentials) const {
    std::shared_ptr<grpc::ChannelCredentials> channel_credentials =
        grpc::InsecureChannelCredentials();
    grpc::ChannelArguments args;
    if (!credentials.ca_file.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = Slurp(credentials.ca_file);
      if (!credentials.identity.cert_file.empty()) {
        ssl.pem_cert_chain = Slurp(credentials.identity.cert_file);
        ssl.pem_private_key = Slurp(credentials.identity.key_file);
      }
      channel_credentials = grpc::SslCredentials(ssl);
      args.SetSslTargetNameOverride(credentials.server_name);
    }
    auto stub =
        logpb::v1::Log::NewStub(grpc::CreateCustomChannel(address_, channel_credentials, args));
    grpc::ClientContext context;
    context.set_deadline(system_clock::now() + std::chrono::seconds(10));
    logpb::v1::GetServersRequest request;
    logpb::v1::GetServersResponse response;
    return stub->GetServers(&context, request, &response);
  }

  static ChannelSecurity SecurityOf(const ClientCredentials& credentials) {
    return {.tls = !credentials.ca_file.empty(),
            .client_certificate = !credentials.identity.cert_file.empty()};
  }

  // Classifies a call with `credentials` and expects Unauthenticated whose
  // message contains `cause`.
  void ExpectRefusedFor(const ClientCredentials& credentials, const std::string& cause) {
    const grpc::Status raw = Call(credentials);
    ASSERT_FALSE(raw.ok());
    const absl::Status status = ClassifyRpcFailure(raw, SecurityOf(credentials));
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
        << status << " (gRPC: " << raw.error_code() << " " << raw.error_message() << ")";
    EXPECT_NE(status.message().find("TLS handshake failed: " + cause), std::string::npos) << status;
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown and the members below
  const std::filesystem::path dir_ = scratch_.path();
  security::CertificateFiles ca_, other_ca_, client_;
  ServersOnly service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(ClientErrorsTest, RightCertificatesSucceed) {
  StartServer();
  EXPECT_TRUE(Call({.ca_file = ca_.cert_file, .identity = client_}).ok());
  EXPECT_TRUE(ClassifyRpcFailure(grpc::Status::OK, {.tls = true}).ok());
}

TEST_F(ClientErrorsTest, NoClientCertificateIsUnauthenticated) {
  StartServer();
  ExpectRefusedFor({.ca_file = ca_.cert_file}, "the server requires a client certificate");
}

TEST_F(ClientErrorsTest, ServerCertificateFromAnUnknownCaIsUnauthenticated) {
  StartServer();
  ExpectRefusedFor({.ca_file = other_ca_.cert_file, .identity = client_},
                   "the server's certificate did not verify");
}

TEST_F(ClientErrorsTest, ClientCertificateFromAnotherCaIsUnauthenticated) {
  StartServer();
  const security::CertificateFiles stranger = Issue({.role = security::TlsRole::kClient,
                                                     .common_name = "stranger",
                                                     .ca_cert_file = other_ca_.cert_file,
                                                     .ca_key_file = dir_ / "other-ca-key.pem"});
  ExpectRefusedFor({.ca_file = ca_.cert_file, .identity = stranger},
                   "the server refused the client certificate");
}

TEST_F(ClientErrorsTest, ExpiredClientCertificateIsUnauthenticated) {
  StartServer();
  const security::CertificateFiles expired = Issue({.role = security::TlsRole::kClient,
                                                    .common_name = "late",
                                                    .not_before = system_clock::now() - hours(48),
                                                    .not_after = system_clock::now() - hours(24)});
  ExpectRefusedFor({.ca_file = ca_.cert_file, .identity = expired},
                   "the server refused the client certificate");
}

TEST_F(ClientErrorsTest, ExpiredServerCertificateIsUnauthenticated) {
  StartServer(Issue({.role = security::TlsRole::kServer,
                     .common_name = "server",
                     .file_stem = "expired-server",
                     .not_before = system_clock::now() - hours(48),
                     .not_after = system_clock::now() - hours(24)}));
  ExpectRefusedFor({.ca_file = ca_.cert_file, .identity = client_},
                   "the server's certificate did not verify");
}

TEST_F(ClientErrorsTest, WrongHostNameIsUnauthenticated) {
  StartServer();
  ExpectRefusedFor({.ca_file = ca_.cert_file, .identity = client_, .server_name = "wrong.example"},
                   "the server's certificate does not name the host dialled");
}

TEST_F(ClientErrorsTest, ServerThatIsDownStaysUnavailable) {
  StartServer();
  server_->Shutdown();
  server_.reset();
  const ClientCredentials credentials{.ca_file = ca_.cert_file, .identity = client_};
  const absl::Status status = ClassifyRpcFailure(Call(credentials), SecurityOf(credentials));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(ClassifyRpcFailureTest, SocketClosedOnAPlaintextChannelStaysUnavailable) {
  const grpc::Status closed(grpc::StatusCode::UNAVAILABLE,
                            "failed to connect to all addresses; last error: UNAVAILABLE: "
                            "ipv4:127.0.0.1:1: Socket closed");
  EXPECT_EQ(ClassifyRpcFailure(closed, {}).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ClassifyRpcFailure(closed, {.tls = true}).code(), absl::StatusCode::kUnauthenticated);
}

TEST(ClassifyRpcFailureTest, OtherStatusesKeepCodeMessageAndDetails) {
  const absl::Status status = ClassifyRpcFailure(
      grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "past the end", "details"), {.tls = true});
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(status.message(), "past the end");
  EXPECT_EQ(status.GetPayload("grpc-status-details-bin").value_or(absl::Cord()), "details");
  // A message that only looks like a refusal but is not UNAVAILABLE stays as it is.
  EXPECT_EQ(ClassifyRpcFailure(
                grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "certificate verify failed"),
                {.tls = true})
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proglog::client
