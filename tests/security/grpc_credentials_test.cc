// The gRPC bridge against a real TLS gRPC server on loopback serving log.v1
// with a small in-memory implementation: who gets in, who is refused, and
// what the ACL lets them do.
#include "core/security/grpc_credentials.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/security/server_security.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using testing::OpensslCliPki;
using testing::Pki;
using testing::WriteFile;

constexpr char kModel[] =
    "[request_definition]\nr = sub, obj, act\n\n[policy_definition]\np = sub, obj, act\n\n"
    "[policy_effect]\ne = some(where (p.eft == allow))\n\n[matchers]\n"
    "m = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";
constexpr char kPolicy[] = "p, root, *, produce\np, root, *, consume\n";

// log.v1 over a vector, authorizing each call the way the real service must.
class InMemoryLogService final : public logpb::v1::Log::Service {
 public:
  explicit InMemoryLogService(const Authorizer* acl) : acl_(acl) {}

  grpc::Status Produce(grpc::ServerContext* context, const logpb::v1::ProduceRequest* request,
                       logpb::v1::ProduceResponse* response) override {
    grpc::Status allowed = AuthorizeCall(*context->auth_context(), *acl_, "/log.v1.Log/Produce");
    if (!allowed.ok()) return allowed;
    absl::MutexLock lock(&mu_);
    records_.push_back(request->record().value());
    response->set_offset(records_.size() - 1);
    return grpc::Status::OK;
  }

  grpc::Status Consume(grpc::ServerContext* context, const logpb::v1::ConsumeRequest* request,
                       logpb::v1::ConsumeResponse* response) override {
    grpc::Status allowed = AuthorizeCall(*context->auth_context(), *acl_, "/log.v1.Log/Consume");
    if (!allowed.ok()) return allowed;
    absl::MutexLock lock(&mu_);
    if (request->offset() >= records_.size()) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset past the end");
    }
    response->mutable_record()->set_value(records_[request->offset()]);
    response->mutable_record()->set_offset(request->offset());
    return grpc::Status::OK;
  }

  size_t Size() {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }

 private:
  const Authorizer* acl_;
  absl::Mutex mu_;
  std::vector<std::string> records_ ABSL_GUARDED_BY(mu_);
};

class TlsServer {
 public:
  TlsServer(const TlsFiles& files, const AclFiles& acl_files) {
    auto config = TlsConfig::Load(TlsRole::kServer, files);
    EXPECT_TRUE(config.ok()) << config.status();
    auto acl = Authorizer::Open(acl_files);
    EXPECT_TRUE(acl.ok()) << acl.status();
    if (!config.ok() || !acl.ok()) return;
    acl_ = *std::move(acl);
    service_ = std::make_unique<InMemoryLogService>(acl_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", GrpcServerCredentials(*config), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    EXPECT_TRUE(server_ != nullptr && port_ > 0);
  }
  ~TlsServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  InMemoryLogService& Service() { return *service_; }
  Authorizer& Acl() { return *acl_; }

 private:
  std::unique_ptr<Authorizer> acl_;
  std::unique_ptr<InMemoryLogService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TlsFiles& files) {
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? GrpcChannelCredentials(*config) : grpc::InsecureChannelCredentials();
}

// Credentials straight from files, for material TlsConfig would refuse.
std::shared_ptr<grpc::ChannelCredentials> RawCredentials(const std::filesystem::path& ca,
                                                         const TlsFiles* own) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = testing::ReadFile(ca);
  if (own != nullptr) {
    options.pem_cert_chain = testing::ReadFile(own->cert_file);
    options.pem_private_key = testing::ReadFile(own->key_file);
  }
  return grpc::SslCredentials(options);
}

grpc::Status Produce(const std::shared_ptr<grpc::Channel>& channel, const std::string& value,
                     uint64_t* offset = nullptr) {
  auto stub = logpb::v1::Log::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  logpb::v1::ProduceRequest request;
  request.mutable_record()->set_value(value);
  logpb::v1::ProduceResponse response;
  grpc::Status status = stub->Produce(&context, request, &response);
  if (offset != nullptr) *offset = response.offset();
  return status;
}

grpc::Status Consume(const std::shared_ptr<grpc::Channel>& channel, uint64_t offset,
                     std::string* value) {
  auto stub = logpb::v1::Log::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  logpb::v1::ConsumeRequest request;
  request.set_offset(offset);
  logpb::v1::ConsumeResponse response;
  grpc::Status status = stub->Consume(&context, request, &response);
  *value = response.record().value();
  return status;
}

bool Eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling interval
  }
  return done();
}

class GrpcTlsTest : public ::testing::Test {
 protected:
  GrpcTlsTest() : pki_(dir_.path()) {
    acl_files_ = {dir_.path() / "model.conf", dir_.path() / "policy.csv"};
    WriteFile(acl_files_.model_file, kModel);
    WriteFile(acl_files_.policy_file, kPolicy);
    server_ = std::make_unique<TlsServer>(pki_.Issue(TlsRole::kServer, "node-1", {"127.0.0.1"}),
                                          acl_files_);
  }
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& cn) {
    return grpc::CreateChannel(server_->Address(),
                               ClientCredentials(pki_.Issue(TlsRole::kClient, cn)));
  }

  ScratchDir dir_;
  Pki pki_;
  AclFiles acl_files_;
  std::unique_ptr<TlsServer> server_;
};

TEST_F(GrpcTlsTest, ClientInThePolicyProducesAndConsumes) {
  auto channel = ChannelAs("root");
  uint64_t offset = 99;
  grpc::Status produced = Produce(channel, "hello", &offset);
  ASSERT_TRUE(produced.ok()) << produced.error_message();
  EXPECT_EQ(offset, 0u);
  std::string value;
  grpc::Status consumed = Consume(channel, offset, &value);
  ASSERT_TRUE(consumed.ok()) << consumed.error_message();
  EXPECT_EQ(value, "hello");
}

TEST_F(GrpcTlsTest, ValidClientOutsideThePolicyIsDeniedNamingSubjectAndAction) {
  auto channel = ChannelAs("nobody");
  grpc::Status status = Produce(channel, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("nobody"));
  EXPECT_THAT(status.error_message(), HasSubstr("produce"));
  std::string value;
  status = Consume(channel, 0, &value);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("consume"));
  EXPECT_EQ(server_->Service().Size(), 0u);
}

TEST_F(GrpcTlsTest, ClientWithoutCertificateIsRefused) {
  auto channel = grpc::CreateChannel(server_->Address(), RawCredentials(pki_.ca_file(), nullptr));
  grpc::Status status = Produce(channel, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server_->Service().Size(), 0u);
}

TEST_F(GrpcTlsTest, SelfSignedRootFromAnotherCaIsRefused) {
  ScratchDir other;
  TlsFiles forged = testing::SelfSignedByOpensslCli(other.path(), "root", "root");
  auto channel = grpc::CreateChannel(server_->Address(), RawCredentials(pki_.ca_file(), &forged));
  grpc::Status status = Produce(channel, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server_->Service().Size(), 0u);
}

TEST_F(GrpcTlsTest, ExpiredClientCertificateIsRefused) {
  IssueOptions options;
  options.role = TlsRole::kClient;
  options.common_name = "root";
  options.file_stem = "expired-root";
  auto now = std::chrono::system_clock::now();
  options.not_before = now - std::chrono::hours(48);
  options.not_after = now - std::chrono::hours(1);
  TlsFiles expired = pki_.IssueWith(options);
  auto channel = grpc::CreateChannel(server_->Address(), RawCredentials(pki_.ca_file(), &expired));
  grpc::Status status = Produce(channel, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server_->Service().Size(), 0u);
}

TEST_F(GrpcTlsTest, PlaintextClientIsRefused) {
  auto channel = grpc::CreateChannel(server_->Address(), grpc::InsecureChannelCredentials());
  grpc::Status status = Produce(channel, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server_->Service().Size(), 0u);
}

TEST_F(GrpcTlsTest, ServerOutsideTheCaIsRefusedByTheClient) {
  ScratchDir other_dir;
  Pki other(other_dir.path());
  TlsFiles client = pki_.Issue(TlsRole::kClient, "root");
  client.ca_file = other.ca_file();  // the client trusts a CA that did not sign the server
  auto config = TlsConfig::Load(TlsRole::kClient, client);
  ASSERT_TRUE(config.ok()) << config.status();
  auto channel = grpc::CreateChannel(server_->Address(), GrpcChannelCredentials(*config));
  EXPECT_EQ(Produce(channel, "x").error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcTlsTest, PolicyChangeTakesEffectOnAnOpenConnection) {
  auto channel = ChannelAs("nobody");
  ASSERT_EQ(Produce(channel, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  WriteFile(acl_files_.policy_file, std::string(kPolicy) + "p, nobody, *, produce\n");
  EXPECT_TRUE(Eventually([&] { return Produce(channel, "y").ok(); }));
  // Same channel, never reconnected: the change needed no restart or new connection.
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(server_->Acl().Generation(), 2u);
  std::string value;
  EXPECT_EQ(Consume(channel, 0, &value).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GrpcTlsTest, ServerNameOverrideVerifiesAnotherName) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsServer named(pki.Issue(TlsRole::kServer, "node-2", {"node2.internal"}), acl_files_);
  TlsFiles client_files = pki.Issue(TlsRole::kClient, "root");
  auto config = TlsConfig::Load(TlsRole::kClient, client_files);
  ASSERT_TRUE(config.ok()) << config.status();
  // The certificate does not name 127.0.0.1, so dialing the address fails...
  auto plain = grpc::CreateChannel(named.Address(), GrpcChannelCredentials(*config));
  EXPECT_EQ(Produce(plain, "x").error_code(), grpc::StatusCode::UNAVAILABLE);
  // ...and verifying the name it does carry succeeds.
  grpc::ChannelArguments args;
  SetTlsServerName("node2.internal", &args);
  auto overridden =
      grpc::CreateCustomChannel(named.Address(), GrpcChannelCredentials(*config), args);
  grpc::Status status = Produce(overridden, "x");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(GrpcTlsOpensslCli, CertificatesMadeByOpensslAloneServeRootAndDenyNobody) {
  ScratchDir dir;
  OpensslCliPki pki(dir.path());
  AclFiles acl_files{dir.path() / "model.conf", dir.path() / "policy.csv"};
  WriteFile(acl_files.model_file, kModel);
  WriteFile(acl_files.policy_file, kPolicy);
  TlsServer server(pki.Issue("server", "server", "serverAuth", "IP:127.0.0.1"), acl_files);
  auto root = grpc::CreateChannel(server.Address(),
                                  ClientCredentials(pki.Issue("root", "root", "clientAuth", "")));
  uint64_t offset = 99;
  grpc::Status produced = Produce(root, "from openssl", &offset);
  ASSERT_TRUE(produced.ok()) << produced.error_message();
  std::string value;
  ASSERT_TRUE(Consume(root, offset, &value).ok());
  EXPECT_EQ(value, "from openssl");
  auto nobody = grpc::CreateChannel(
      server.Address(), ClientCredentials(pki.Issue("nobody", "nobody", "clientAuth", "")));
  EXPECT_EQ(Produce(nobody, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

class ServerSecurityTest : public ::testing::Test {
 protected:
  ServerSecurityTest() : pki_(dir_.path()) {
    acl_ = {dir_.path() / "model.conf", dir_.path() / "policy.csv"};
    WriteFile(acl_.model_file, kModel);
    WriteFile(acl_.policy_file, kPolicy);
    tls_ = pki_.Issue(TlsRole::kServer, "node-1");
  }
  ScratchDir dir_;
  Pki pki_;
  TlsFiles tls_;
  AclFiles acl_;
};

TEST_F(ServerSecurityTest, NoFlagsMeansPlaintextAndAWarning) {
  auto previous = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  auto security = ServerSecurity::FromFlags({}, {});
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_EQ(security->credentials, nullptr);
  EXPECT_EQ(security->authorizer, nullptr);
  EXPECT_FALSE(security->AuthorizerCallback());
  std::vector<std::string> lines = sink->last_formatted();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("[warning] serving plaintext"));
}

TEST_F(ServerSecurityTest, PartialTlsFlagsNameTheMissingOne) {
  TlsFiles partial = tls_;
  partial.key_file.clear();
  auto security = ServerSecurity::FromFlags(partial, {});
  EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(security.status().message(), HasSubstr("--server-tls-key-file is missing"));
  AclFiles half = acl_;
  half.model_file.clear();
  security = ServerSecurity::FromFlags(tls_, half);
  EXPECT_THAT(security.status().message(), HasSubstr("--acl-model-file is missing"));
}

TEST_F(ServerSecurityTest, AclWithoutTlsIsRefused) {
  auto security = ServerSecurity::FromFlags({}, acl_);
  EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(security.status().message(), HasSubstr("need --server-tls"));
}

TEST_F(ServerSecurityTest, BadTlsFileIsReportedWithItsPath) {
  TlsFiles wrong = tls_;
  wrong.ca_file = tls_.cert_file;  // a leaf, not a CA
  auto security = ServerSecurity::FromFlags(wrong, acl_);
  EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(security.status().message(), HasSubstr(tls_.cert_file.string()));
}

TEST_F(ServerSecurityTest, AllFlagsGiveTlsCredentialsAndTheAclCallback) {
  auto security = ServerSecurity::FromFlags(tls_, acl_, {.watch_files = false});
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_NE(security->credentials, nullptr);
  ASSERT_NE(security->authorizer, nullptr);
  auto callback = security->AuthorizerCallback();
  ASSERT_TRUE(callback);
  EXPECT_TRUE(callback("root", kProduceAction).ok());
  EXPECT_EQ(callback("nobody", kConsumeAction).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(callback("", kConsumeAction).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace proglog::security
