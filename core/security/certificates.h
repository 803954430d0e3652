// core/security/certificates: the certificate tooling behind `proglog cert`.
// It makes a cluster CA and issues server, client and peer certificates signed
// by it, with OpenSSL's library (no cfssl, no shell-out). What it writes is
// ordinary PEM that `openssl verify` accepts:
//   - CA: self-signed, basicConstraints CA:TRUE (critical), keyUsage
//     keyCertSign + cRLSign (critical).
//   - leaf: basicConstraints CA:FALSE, keyUsage digitalSignature (plus
//     keyEncipherment for RSA keys), extendedKeyUsage serverAuth (server),
//     clientAuth (client) or both (peer), subjectAltName from --host (IP
//     addresses and DNS names), Common Name = the subject the ACL sees.
// Private keys are written unencrypted with mode 0600. Existing files are never
// replaced unless asked (`--force`), and a file is either complete or absent.
//
// Thread-safety: the functions are thread-safe; two calls writing the same
// paths at once race on the files as any two writers would.
#ifndef PROGLOG_CORE_SECURITY_CERTIFICATES_H_
#define PROGLOG_CORE_SECURITY_CERTIFICATES_H_

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/security/tls_config.h"

namespace proglog::security {

enum class KeyAlgorithm {
  kEcdsaP256,  // default: small and fast handshakes
  kRsa2048,
};

struct CertificateFiles {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

struct CaOptions {
  std::filesystem::path out_dir = ".";
  std::string common_name = "proglog CA";
  std::string file_stem = "ca";  // writes <stem>.pem and <stem>-key.pem
  int valid_days = 3650;
  KeyAlgorithm key_algorithm = KeyAlgorithm::kEcdsaP256;
  bool overwrite = false;
};

struct IssueOptions {
  TlsRole role = TlsRole::kClient;
  std::string common_name;  // required; the subject the ACL authorizes
  // Subject alternative names: each entry is an IP address (v4 or v6) or a DNS
  // name. Empty for a server or peer means "localhost" and "127.0.0.1".
  std::vector<std::string> hosts;
  // The signing CA; empty means <out_dir>/ca.pem and <out_dir>/ca-key.pem.
  std::filesystem::path ca_cert_file;
  std::filesystem::path ca_key_file;
  std::filesystem::path out_dir = ".";
  // Empty: "server" for a server, "<cn>-client" / "<cn>-peer" otherwise.
  std::string file_stem;
  int valid_days = 365;
  // Explicit validity period; overrides valid_days. Tests use them to make
  // expired or not-yet-valid certificates.
  std::optional<std::chrono::system_clock::time_point> not_before;
  std::optional<std::chrono::system_clock::time_point> not_after;
  KeyAlgorithm key_algorithm = KeyAlgorithm::kEcdsaP256;
  bool overwrite = false;
};

// Makes a new CA key pair and self-signed certificate.
absl::StatusOr<CertificateFiles> CreateCertificateAuthority(const CaOptions& options);

// Makes a new key pair and a certificate for it signed by the given CA.
absl::StatusOr<CertificateFiles> IssueCertificate(const IssueOptions& options);

// `proglog cert ...`: args are what follows "cert" on the command line, e.g.
// {"issue", "--role", "client", "--cn", "root"}. Prints what it wrote to `out`
// and errors and help to `err`/`out`; returns the process exit code (0 ok,
// 1 failure, 2 usage error). Never throws.
int RunCertCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace proglog::security

#endif  // PROGLOG_CORE_SECURITY_CERTIFICATES_H_
