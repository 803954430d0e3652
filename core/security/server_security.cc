#include "core/security/server_security.h"

#include <utility>

#include "core/security/grpc_credentials.h"
#include "core/security/message.h"
#include "spdlog/spdlog.h"

namespace proglog::security {
namespace {

// Names the first missing flag of a set given only in part.
absl::Status RequireAllOrNone(
    std::initializer_list<std::pair<const char*, const std::filesystem::path*>> flags) {
  bool any = false;
  for (const auto& [name, path] : flags) any = any || !path->empty();
  if (!any) return absl::OkStatus();
  std::string given;
  for (const auto& [name, path] : flags) {
    if (!path->empty()) given = name;
  }
  for (const auto& [name, path] : flags) {
    if (path->empty()) {
      return absl::InvalidArgumentError(
          internal::Msg(name, " is missing (", given, " is set; these flags go together)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerSecurity> ServerSecurity::FromFlags(const TlsFiles& server_tls,
                                                         const AclFiles& acl,
                                                         AuthorizerOptions acl_options) {
  if (absl::Status s = RequireAllOrNone({{"--server-tls-cert-file", &server_tls.cert_file},
                                         {"--server-tls-key-file", &server_tls.key_file},
                                         {"--server-tls-ca-file", &server_tls.ca_file}});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = RequireAllOrNone(
          {{"--acl-model-file", &acl.model_file}, {"--acl-policy-file", &acl.policy_file}});
      !s.ok()) {
    return s;
  }
  bool tls = !server_tls.cert_file.empty();
  bool has_acl = !acl.model_file.empty();
  if (has_acl && !tls) {
    return absl::InvalidArgumentError(
        "--acl-model-file/--acl-policy-file need --server-tls-*: the ACL authorizes the Common "
        "Name of the client certificate, and without TLS there is none");
  }
  ServerSecurity security;
  if (!tls) {
    spdlog::warn(
        "serving plaintext: no --server-tls-* flags, so clients are neither encrypted nor "
        "authenticated");
    return security;
  }
  auto config = TlsConfig::Load(TlsRole::kServer, server_tls);
  if (!config.ok()) return config.status();
  security.credentials = GrpcServerCredentials(*config);
  spdlog::info("serving TLS only as \"{}\"; clients need a certificate signed by {}",
               config->CommonName(), server_tls.ca_file.string());
  if (!has_acl) {
    spdlog::warn("no --acl-* flags: every client with a valid certificate may produce and consume");
    return security;
  }
  auto authorizer = Authorizer::Open(acl, acl_options);
  if (!authorizer.ok()) return authorizer.status();
  security.authorizer = *std::move(authorizer);
  return security;
}

std::function<absl::Status(std::string_view, std::string_view)> ServerSecurity::AuthorizerCallback()
    const {
  if (!authorizer) return nullptr;
  return [acl = authorizer](std::string_view subject, std::string_view action) {
    return acl->Authorize(subject, kWildcardObject, action);
  };
}

}  // namespace proglog::security
