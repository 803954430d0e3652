// The certificate tooling: what it writes must satisfy the real openssl CLI.
#include "core/security/certificates.h"

#include <sys/stat.h>

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Pki;
using testing::ReadFile;
using testing::RunProgram;

std::string CertText(const std::filesystem::path& cert) {
  testing::ProgramResult r =
      RunProgram({"openssl", "x509", "-noout", "-text", "-in", cert.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

testing::ProgramResult Verify(const TlsFiles& files, const std::string& purpose) {
  return RunProgram({"openssl", "verify", "-CAfile", files.ca_file.string(), "-purpose", purpose,
                     files.cert_file.string()});
}

TEST(Certificates, CaIsSelfSignedCaThatOpensslAccepts) {
  ScratchDir dir;
  Pki pki(dir.path(), "cluster CA");
  testing::ProgramResult r =
      RunProgram({"openssl", "verify", "-CAfile", pki.ca_file().string(), pki.ca_file().string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string text = CertText(pki.ca_file());
  EXPECT_THAT(text, HasSubstr("CA:TRUE"));
  EXPECT_THAT(text, HasSubstr("Certificate Sign"));
  EXPECT_THAT(text, HasSubstr("CN = cluster CA"));
}

TEST(Certificates, ServerCertificateVerifiesForServerUseWithSans) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kServer, "node-1", {"127.0.0.1", "node1.example", "::1"});
  testing::ProgramResult ok = Verify(files, "sslserver");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(Verify(files, "sslclient").exit_code, 0);
  std::string text = CertText(files.cert_file);
  EXPECT_THAT(text, HasSubstr("IP Address:127.0.0.1"));
  EXPECT_THAT(text, HasSubstr("DNS:node1.example"));
  EXPECT_THAT(text, HasSubstr("IP Address:0:0:0:0:0:0:0:1"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(text, HasSubstr("Digital Signature"));
  EXPECT_EQ(files.cert_file.filename(), "server.pem");
}

TEST(Certificates, ServerWithoutHostsGetsLoopbackNames) {
  ScratchDir dir;
  Pki pki(dir.path());
  std::string text = CertText(pki.Issue(TlsRole::kServer, "node-1").cert_file);
  EXPECT_THAT(text, HasSubstr("DNS:localhost"));
  EXPECT_THAT(text, HasSubstr("IP Address:127.0.0.1"));
}

TEST(Certificates, ClientCertificateIsForClientUseOnly) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  testing::ProgramResult ok = Verify(files, "sslclient");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(Verify(files, "sslserver").exit_code, 0);
  std::string text = CertText(files.cert_file);
  EXPECT_THAT(text, HasSubstr("CN = root"));
  EXPECT_THAT(text, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text, Not(HasSubstr("Subject Alternative Name")));
  EXPECT_EQ(files.cert_file.filename(), "root-client.pem");
}

TEST(Certificates, PeerCertificateIsForBothUses) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kPeer, "node-2", {"127.0.0.1"});
  EXPECT_EQ(Verify(files, "sslserver").exit_code, 0);
  EXPECT_EQ(Verify(files, "sslclient").exit_code, 0);
  EXPECT_EQ(files.cert_file.filename(), "node-2-peer.pem");
}

TEST(Certificates, RsaKeysGetKeyEnciphermentAndVerify) {
  ScratchDir dir;
  Pki pki(dir.path());
  IssueOptions options;
  options.role = TlsRole::kServer;
  options.common_name = "rsa-server";
  options.key_algorithm = KeyAlgorithm::kRsa2048;
  TlsFiles files = pki.IssueWith(options);
  EXPECT_EQ(Verify(files, "sslserver").exit_code, 0);
  std::string text = CertText(files.cert_file);
  EXPECT_THAT(text, HasSubstr("rsaEncryption"));
  EXPECT_THAT(text, HasSubstr("Key Encipherment"));
}

TEST(Certificates, PrivateKeyFileIsOwnerOnly) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles files = pki.Issue(TlsRole::kClient, "root");
  struct stat st {};
  ASSERT_EQ(stat(files.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir.path() / "ca-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Certificates, ExistingFilesAreNotReplacedWithoutOverwrite) {
  ScratchDir dir;
  Pki pki(dir.path());
  TlsFiles first = pki.Issue(TlsRole::kClient, "root");
  std::string cert_before = ReadFile(first.cert_file);
  std::string key_before = ReadFile(first.key_file);

  IssueOptions again;
  again.role = TlsRole::kClient;
  again.common_name = "root";
  again.out_dir = dir.path();
  auto refused = IssueCertificate(again);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(refused.status().message(), HasSubstr("root-client.pem"));
  EXPECT_EQ(ReadFile(first.cert_file), cert_before);
  EXPECT_EQ(ReadFile(first.key_file), key_before);

  again.overwrite = true;
  ASSERT_TRUE(IssueCertificate(again).ok());
  EXPECT_NE(ReadFile(first.cert_file), cert_before);
}

TEST(Certificates, HostThatIsNeitherIpNorDnsIsRefusedAndNothingWritten) {
  ScratchDir dir;
  Pki pki(dir.path());
  IssueOptions options;
  options.role = TlsRole::kServer;
  options.common_name = "node";
  options.out_dir = dir.path();
  options.hosts = {"ok.example", "evil,DNS:other.example"};
  auto files = IssueCertificate(options);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(files.status().message(), HasSubstr("evil,DNS:other.example"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "server.pem"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "server-key.pem"));
}

TEST(Certificates, CaKeyThatDoesNotMatchCaCertificateIsRefused) {
  ScratchDir dir_a;
  ScratchDir dir_b;
  Pki a(dir_a.path());
  Pki b(dir_b.path());
  IssueOptions options;
  options.role = TlsRole::kClient;
  options.common_name = "root";
  options.out_dir = dir_a.path();
  options.ca_cert_file = a.ca_file();
  options.ca_key_file = dir_b.path() / "ca-key.pem";
  auto files = IssueCertificate(options);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(files.status().message(), HasSubstr("does not match"));
}

TEST(Certificates, CommandWritesCaAndCertificates) {
  ScratchDir dir;
  std::ostringstream out, err;
  std::string d = dir.path().string();
  ASSERT_EQ(RunCertCommand({"ca", "--dir", d}, out, err), 0) << err.str();
  ASSERT_EQ(RunCertCommand({"issue", "--role", "server", "--cn", "node-1", "--host", "127.0.0.1",
                            "--host", "localhost", "--dir", d},
                           out, err),
            0)
      << err.str();
  ASSERT_EQ(RunCertCommand({"issue", "--role", "client", "--cn", "root", "--dir", d}, out, err), 0)
      << err.str();
  EXPECT_THAT(out.str(), HasSubstr("root-client.pem"));
  TlsFiles client{dir.path() / "root-client.pem", dir.path() / "root-client-key.pem",
                  dir.path() / "ca.pem"};
  EXPECT_EQ(Verify(client, "sslclient").exit_code, 0);
  TlsFiles server{dir.path() / "server.pem", dir.path() / "server-key.pem", dir.path() / "ca.pem"};
  EXPECT_EQ(Verify(server, "sslserver").exit_code, 0);
}

TEST(Certificates, CommandReportsUsageErrors) {
  ScratchDir dir;
  std::string d = dir.path().string();
  std::ostringstream out, err;
  EXPECT_EQ(RunCertCommand({"issue", "--role", "admin", "--cn", "x", "--dir", d}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("--role"));
  EXPECT_EQ(RunCertCommand({"issue", "--role", "client", "--dir", d}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("--cn"));
  EXPECT_EQ(RunCertCommand({}, out, err), 2);
  EXPECT_EQ(RunCertCommand({"--help"}, out, err), 0);
  EXPECT_THAT(out.str(), HasSubstr("issue"));
}

TEST(Certificates, CommandWithoutCaNamesTheMissingFile) {
  ScratchDir dir;
  std::ostringstream out, err;
  EXPECT_EQ(
      RunCertCommand({"issue", "--role", "client", "--cn", "root", "--dir", dir.path().string()},
                     out, err),
      1);
  EXPECT_THAT(err.str(), HasSubstr((dir.path() / "ca.pem").string()));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "root-client-key.pem"));
}

}  // namespace
}  // namespace proglog::security
