// Internal to core/security: reading and writing PEM files with errors that
// name the file, shared by TlsConfig and the certificate tooling.
#ifndef PROGLOG_CORE_SECURITY_PEM_CODEC_H_
#define PROGLOG_CORE_SECURITY_PEM_CODEC_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/security/openssl_handles.h"

namespace proglog::security::internal {

// Whole file as text. `what` names the file's purpose in errors ("CA file").
absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path, std::string_view what);

// Every CERTIFICATE block in `pem`, in order; an error if there is none or one
// is malformed.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem,
                                                       const std::filesystem::path& path,
                                                       std::string_view what);

// The first private key in `pem`; encrypted keys are refused (no passphrase
// prompt in a server).
absl::StatusOr<PkeyPtr> ParsePrivateKey(std::string_view pem, const std::filesystem::path& path,
                                        std::string_view what);

absl::StatusOr<std::string> CertificateToPem(X509* cert);
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);

// Writes `text` to `path` with the given permission bits. Refuses to replace an
// existing file unless `overwrite`; the file appears complete or not at all
// (written to a temporary name, synced, then renamed).
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text,
                                 std::filesystem::perms perms, bool overwrite);

}  // namespace proglog::security::internal

#endif  // PROGLOG_CORE_SECURITY_PEM_CODEC_H_
