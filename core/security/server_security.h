// core/security/server_security: turns the server's security flags
// (--server-tls-cert-file, --server-tls-key-file, --server-tls-ca-file,
// --acl-model-file, --acl-policy-file) into what the gRPC server needs, with
// the rules the binary must follow in one place:
//   - TLS: all three files or none. With them, the listener speaks TLS only and
//     requires a client certificate signed by the CA. Without them it serves
//     plaintext and a warning is logged.
//   - ACL: both files or none. The ACL needs TLS, since the subject it
//     authorizes is the client certificate's Common Name. Without an ACL every
//     authenticated client may do everything (and a warning is logged).
// A partial or inconsistent set of flags is an error naming the missing flag.
//
// Thread-safety: FromFlags() is thread-safe. A ServerSecurity is immutable
// except for the authorizer's own reloads; its Authorize() and the callback
// from AuthorizerCallback() may be called from any thread.
#ifndef PROGLOG_CORE_SECURITY_SERVER_SECURITY_H_
#define PROGLOG_CORE_SECURITY_SERVER_SECURITY_H_

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/security/acl.h"
#include "core/security/tls_config.h"
#include "grpcpp/security/server_credentials.h"

namespace proglog::security {

struct ServerSecurity {
  // Paths as given; empty paths mean "flag not set".
  static absl::StatusOr<ServerSecurity> FromFlags(const TlsFiles& server_tls, const AclFiles& acl,
                                                  AuthorizerOptions acl_options = {});

  // Null: plaintext (no TLS flags).
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Null: no ACL. Shared so callbacks can keep it alive; call Reload() on it
  // when the process gets SIGHUP (from a normal thread, not a signal handler).
  std::shared_ptr<Authorizer> authorizer;

  // (subject, action) -> OK / PERMISSION_DENIED / UNAUTHENTICATED, with
  // object "*", as node::Config::authorizer and server::Options::authorizer
  // expect; null when there is no ACL.
  std::function<absl::Status(std::string_view subject, std::string_view action)>
  AuthorizerCallback() const;
};

}  // namespace proglog::security

#endif  // PROGLOG_CORE_SECURITY_SERVER_SECURITY_H_
