// core/security/grpc_credentials: the bridge between a TlsConfig/Authorizer and
// gRPC. It builds server credentials that accept only TLS connections whose
// client presents a certificate signed by the configured CA (no plaintext
// fallback), client credentials that present our certificate and verify the
// server against the CA, and reads the authenticated subject (the client
// certificate's Common Name) back from a call's AuthContext so the service can
// ask the Authorizer. Kept apart from the rest of core/security (target
// proglog_security_grpc) so peers that use only OpenSSL need not link gRPC.
//
// Thread-safety: all functions are thread-safe; the credentials they return
// are immutable and may be shared.
#ifndef PROGLOG_CORE_SECURITY_GRPC_CREDENTIALS_H_
#define PROGLOG_CORE_SECURITY_GRPC_CREDENTIALS_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/security/acl.h"
#include "core/security/tls_config.h"

namespace proglog::security {

// TLS-only server credentials: our certificate chain and key, and the CA file
// as the only trust anchor for client certificates, which are required and
// verified during the handshake. A connection without a valid client
// certificate never reaches a handler.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsConfig& server);

// Client credentials: verify the server against the CA file and present our
// certificate and key.
std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const TlsConfig& client);

// When the name the client dials differs from a name in the server
// certificate (dialing an IP the certificate lacks, or a load balancer), sets
// the name to verify instead. No-op for an empty name.
void SetTlsServerName(std::string_view server_name, grpc::ChannelArguments* args);

// The Common Name of the client certificate verified on this call's
// connection. Unauthenticated if the connection is not TLS or carried no
// verified certificate.
absl::StatusOr<std::string> AuthenticatedSubject(const grpc::AuthContext& auth);

// The whole check a log.v1 handler needs: the method's action on object "*"
// for the call's authenticated subject. OK for methods the ACL does not cover;
// UNAUTHENTICATED without a verified client certificate; PERMISSION_DENIED
// naming subject and action when the policy does not allow it.
grpc::Status AuthorizeCall(const grpc::AuthContext& auth, const Authorizer& authorizer,
                           std::string_view full_method_name);

// absl::Status -> grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace proglog::security

#endif  // PROGLOG_CORE_SECURITY_GRPC_CREDENTIALS_H_
