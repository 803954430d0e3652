// Test support for tests/security: a way to run the real `openssl` CLI, and
// shortcuts for making a small PKI with the library under test or with the
// openssl CLI alone (scratch folders: tests/testing/scratch_dir.h).
#ifndef PROGLOG_TESTS_SECURITY_PKI_FIXTURE_H_
#define PROGLOG_TESTS_SECURITY_PKI_FIXTURE_H_

#include <filesystem>
#include <string>
#include <vector>

#include "core/security/certificates.h"
#include "core/security/tls_config.h"

namespace proglog::security::testing {

struct ProgramResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) with the arguments, waits for it, returns
// its exit code and output.
ProgramResult RunProgram(const std::vector<std::string>& argv);

std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& text);

// A CA made by the library in `dir` (ca.pem, ca-key.pem), and leaf
// certificates issued from it.
class Pki {
 public:
  explicit Pki(std::filesystem::path dir, std::string ca_cn = "test CA");
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path ca_file() const { return dir_ / "ca.pem"; }
  // Issues and returns the three paths for a TlsConfig.
  TlsFiles Issue(TlsRole role, const std::string& cn, std::vector<std::string> hosts = {});
  TlsFiles IssueWith(IssueOptions options);

 private:
  std::filesystem::path dir_;
};

// A PKI made by the openssl CLI alone in `dir`: ca.pem/ca-key.pem, and
// <stem>.pem/<stem>-key.pem leaves. Fails the current test on error.
class OpensslCliPki {
 public:
  explicit OpensslCliPki(std::filesystem::path dir);
  std::filesystem::path ca_file() const { return dir_ / "ca.pem"; }
  // extended key usage e.g. "serverAuth"; san e.g. "IP:127.0.0.1" or "".
  TlsFiles Issue(const std::string& stem, const std::string& cn, const std::string& eku,
                 const std::string& san);

 private:
  std::filesystem::path dir_;
};

// A self-signed certificate (its own CA) made by the openssl CLI, CN `cn`.
TlsFiles SelfSignedByOpensslCli(const std::filesystem::path& dir, const std::string& stem,
                                const std::string& cn);

}  // namespace proglog::security::testing

#endif  // PROGLOG_TESTS_SECURITY_PKI_FIXTURE_H_
