// Loading and validating TLS material, with files from the library and from
// the openssl CLI alone.
#include "core/security/tls_config.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using testing::OpensslCliPki;
using testing::Pki;
using testing::RunProgram;

TEST(TlsConfig, LoadsIssuedClientAndExposesPemAndCommonName) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->CommonName(), "root");
  EXPECT_EQ(config->CertChainPem(), testing::ReadFile(files.cert_file));
  EXPECT_EQ(config->PrivateKeyPem(), testing::ReadFile(files.key_file));
  EXPECT_EQ(config->CaPem(), testing::ReadFile(files.ca_file));
  EXPECT_GT(config->NotAfter(), std::chrono::system_clock::now());
}

TEST(TlsConfig, LoadsCertificatesMadeByOpensslCliAlone) {
  ScratchDir dir;
  OpensslCliPki pki(dir.path());
  auto server = TlsConfig::Load(TlsRole::kServer,
                                pki.Issue("server", "localhost", "serverAuth", "IP:127.0.0.1"));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->CommonName(), "localhost");
  auto client = TlsConfig::Load(TlsRole::kClient, pki.Issue("root", "root", "clientAuth", ""));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->CommonName(), "root");
}

TEST(TlsConfig, MissingFileIsNamedInTheError) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  files.key_file = dir.path() / "nope-key.pem";
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("key file"));
  EXPECT_THAT(config.status().message(), HasSubstr("nope-key.pem"));
}

TEST(TlsConfig, KeyOfAnotherCertificateIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles root = pki.Issue(TlsRole::kClient, "root");
  TlsFiles other = pki.Issue(TlsRole::kClient, "other");
  root.key_file = other.key_file;
  auto config = TlsConfig::Load(TlsRole::kClient, root);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("other-client-key.pem"));
  EXPECT_THAT(config.status().message(), HasSubstr("root-client.pem"));
}

TEST(TlsConfig, LeafCertificateGivenAsCaIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  files.ca_file = files.cert_file;
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("not a CA certificate"));
}

TEST(TlsConfig, GarbageInCertFileIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  testing::WriteFile(files.cert_file,
                     "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                     "-----END CERTIFICATE-----\n");
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("root-client.pem"));
  testing::WriteFile(files.cert_file, "hello\n");
  config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_THAT(config.status().message(), HasSubstr("no PEM CERTIFICATE"));
}

TEST(TlsConfig, DeviceGivenAsCaFileIsRefusedInsteadOfReadForever) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  files.ca_file = "/dev/zero";
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("/dev/zero"));
}

TEST(TlsConfig, EncryptedKeyIsRefusedWithReason) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  std::filesystem::path encrypted = dir.path() / "encrypted-key.pem";
  testing::ProgramResult r =
      RunProgram({"openssl", "pkey", "-in", files.key_file.string(), "-aes256", "-passout",
                  "pass:secret", "-out", encrypted.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  files.key_file = encrypted;
  auto config = TlsConfig::Load(TlsRole::kClient, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("encrypted"));
}

TEST(TlsConfig, ExpiredCertificateIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  IssueOptions options;
  options.role = TlsRole::kClient;
  options.common_name = "old";
  auto now = std::chrono::system_clock::now();
  options.not_before = now - std::chrono::hours(48);
  options.not_after = now - std::chrono::hours(24);
  auto config = TlsConfig::Load(TlsRole::kClient, pki.IssueWith(options));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(), HasSubstr("expired"));
}

TEST(TlsConfig, CertificateForTheWrongRoleIsRefused) {
  ScratchDir dir;
  Pki pki(dir.path());
  auto as_server = TlsConfig::Load(TlsRole::kServer, pki.Issue(TlsRole::kClient, "root"));
  EXPECT_EQ(as_server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(as_server.status().message(), HasSubstr("TLS server"));
  auto as_peer = TlsConfig::Load(TlsRole::kPeer, pki.Issue(TlsRole::kServer, "node"));
  EXPECT_THAT(as_peer.status().message(), HasSubstr("TLS client"));
  EXPECT_TRUE(TlsConfig::Load(TlsRole::kPeer, pki.Issue(TlsRole::kPeer, "node-1")).ok());
}

TEST(TlsConfig, PeerCertificateFromAnotherCaIsRefused) {
  ScratchDir dir_a;
  ScratchDir dir_b;
  Pki a(dir_a.path());
  Pki b(dir_b.path());
  TlsFiles files = b.Issue(TlsRole::kPeer, "intruder");
  files.ca_file = a.ca_file();
  auto config = TlsConfig::Load(TlsRole::kPeer, files);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("does not verify"));
}

}  // namespace
}  // namespace proglog::security
