#include "core/security/grpc_credentials.h"

#include <grpc/grpc_security_constants.h>

#include <vector>

#include "core/security/message.h"

namespace proglog::security {

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsConfig& server) {
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = server.CaPem();
  options.pem_key_cert_pairs.push_back({server.PrivateKeyPem(), server.CertChainPem()});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const TlsConfig& client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = client.CaPem();
  options.pem_private_key = client.PrivateKeyPem();
  options.pem_cert_chain = client.CertChainPem();
  return grpc::SslCredentials(options);
}

void SetTlsServerName(std::string_view server_name, grpc::ChannelArguments* args) {
  if (server_name.empty()) return;
  args->SetSslTargetNameOverride(std::string(server_name));
}

absl::StatusOr<std::string> AuthenticatedSubject(const grpc::AuthContext& auth) {
  // gRPC sets the peer identity only after verifying the certificate chain,
  // so a present CN property means the certificate was verified.
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("no verified client certificate on this connection");
  }
  std::vector<grpc::string_ref> names = auth.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (names.empty() || names.front().empty()) {
    return absl::UnauthenticatedError("the client certificate has no Common Name");
  }
  return std::string(names.front().data(), names.front().size());
}

grpc::Status AuthorizeCall(const grpc::AuthContext& auth, const Authorizer& authorizer,
                           std::string_view full_method_name) {
  std::string_view action = ActionForMethod(full_method_name);
  if (action.empty()) return grpc::Status::OK;
  auto subject = AuthenticatedSubject(auth);
  if (!subject.ok()) return ToGrpcStatus(subject.status());
  return ToGrpcStatus(authorizer.Authorize(*subject, kWildcardObject, action));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace proglog::security
