// The issue's acceptance check against a real proglog::node::Node: certificates
// made by the openssl CLI alone, the original's model.conf and policy.csv, and
// a plain log.v1 stub as the client.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "core/node/node.h"
#include "core/security/acl.h"
#include "core/security/grpc_credentials.h"
#include "core/security/server_security.h"
#include "core/security/tls_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using testing::OpensslCliPki;
using testing::WriteFile;

constexpr char kModel[] =
    "# Request definition\n[request_definition]\nr = sub, obj, act\n\n"
    "# Policy definition\n[policy_definition]\np = sub, obj, act\n\n"
    "# Policy effect\n[policy_effect]\ne = some(where (p.eft == allow))\n\n"
    "# Matchers\n[matchers]\nm = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";
constexpr char kPolicy[] = "p, root, *, produce\np, root, *, consume\n";

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

class NodeTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<OpensslCliPki>(dir_.path() / "pki");
    AclFiles acl_files{dir_.path() / "model.conf", dir_.path() / "policy.csv"};
    WriteFile(acl_files.model_file, kModel);
    WriteFile(acl_files.policy_file, kPolicy);
    // Wired the way the binary does it: flags -> ServerSecurity -> node config.
    auto security = ServerSecurity::FromFlags(
        pki_->Issue("server", "server", "serverAuth", "IP:127.0.0.1"), acl_files);
    ASSERT_TRUE(security.ok()) << security.status();

    node::Config config;
    config.data_dir = dir_.path() / "data";
    config.node_name = "node-1";
    config.server_credentials = security->credentials;
    config.authorizer = security->AuthorizerCallback();
    auto opened = node::Node::Open(std::move(config));
    ASSERT_TRUE(opened.ok()) << opened.status();
    node_ = *std::move(opened);
  }
  void TearDown() override {
    if (node_) {
      EXPECT_TRUE(node_->Close().ok());
    }
  }

  std::unique_ptr<logpb::v1::Log::Stub> StubAs(const std::string& cn) {
    auto tls = TlsConfig::Load(TlsRole::kClient, pki_->Issue(cn, cn, "clientAuth", ""));
    EXPECT_TRUE(tls.ok()) << tls.status();
    return logpb::v1::Log::NewStub(
        grpc::CreateChannel(node_->RpcAddress(), GrpcChannelCredentials(*tls)));
  }

  grpc::Status Produce(logpb::v1::Log::Stub* stub, const std::string& value, uint64_t* offset) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    logpb::v1::ProduceRequest request;
    request.mutable_record()->set_value(value);
    logpb::v1::ProduceResponse response;
    grpc::Status status = stub->Produce(&context, request, &response);
    *offset = response.offset();
    return status;
  }

  ScratchDir dir_;
  std::unique_ptr<OpensslCliPki> pki_;
  std::unique_ptr<node::Node> node_;
};

TEST_F(NodeTlsTest, RootProducesAndConsumesIncludingStreams) {
  auto stub = StubAs("root");
  uint64_t offset = 99;
  grpc::Status produced = Produce(stub.get(), "first", &offset);
  ASSERT_TRUE(produced.ok()) << produced.error_message();
  EXPECT_EQ(offset, 0u);

  grpc::ClientContext consume_context;
  consume_context.set_deadline(Deadline());
  logpb::v1::ConsumeRequest request;
  request.set_offset(offset);
  logpb::v1::ConsumeResponse response;
  grpc::Status consumed = stub->Consume(&consume_context, request, &response);
  ASSERT_TRUE(consumed.ok()) << consumed.error_message();
  EXPECT_EQ(response.record().value(), "first");

  grpc::ClientContext stream_context;
  stream_context.set_deadline(Deadline());
  auto stream = stub->ConsumeStream(&stream_context, request);
  logpb::v1::ConsumeResponse streamed;
  ASSERT_TRUE(stream->Read(&streamed));
  EXPECT_EQ(streamed.record().value(), "first");
  stream_context.TryCancel();
}

TEST_F(NodeTlsTest, NobodyIsDeniedOnEveryMethod) {
  auto stub = StubAs("nobody");
  uint64_t offset = 0;
  grpc::Status produced = Produce(stub.get(), "x", &offset);
  EXPECT_EQ(produced.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(produced.error_message(), HasSubstr("nobody"));

  grpc::ClientContext stream_context;
  stream_context.set_deadline(Deadline());
  auto stream = stub->ProduceStream(&stream_context);
  logpb::v1::ProduceRequest request;
  request.mutable_record()->set_value("x");
  stream->Write(request);
  stream->WritesDone();
  logpb::v1::ProduceResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(node_->Read(0).ok());  // nothing was appended
}

TEST_F(NodeTlsTest, PlaintextAndForeignCertificatesAreRefused) {
  auto plaintext = logpb::v1::Log::NewStub(
      grpc::CreateChannel(node_->RpcAddress(), grpc::InsecureChannelCredentials()));
  uint64_t offset = 0;
  EXPECT_EQ(Produce(plaintext.get(), "x", &offset).error_code(), grpc::StatusCode::UNAVAILABLE);

  ScratchDir other;
  TlsFiles forged = testing::SelfSignedByOpensslCli(other.path(), "root", "root");
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = testing::ReadFile(pki_->ca_file());
  options.pem_cert_chain = testing::ReadFile(forged.cert_file);
  options.pem_private_key = testing::ReadFile(forged.key_file);
  auto foreign = logpb::v1::Log::NewStub(
      grpc::CreateChannel(node_->RpcAddress(), grpc::SslCredentials(options)));
  EXPECT_EQ(Produce(foreign.get(), "x", &offset).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(node_->Read(0).ok());
}

}  // namespace
}  // namespace proglog::security
