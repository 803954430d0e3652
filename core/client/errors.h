// core/client/errors: turns a failed call's grpc::Status into the status SDK
// users act on. gRPC reports a refused TLS handshake as UNAVAILABLE, the code
// of a server that is down, so a client would retry a call that can never
// succeed, and the reason is only in the message text (or, when the server
// refused the client, nowhere: the client just sees the socket close).
// ClassifyRpcFailure recognises those cases and answers Unauthenticated,
// naming the likely cause and keeping gRPC's text after it.
//
// Pure functions; thread-safe.
#ifndef PROGLOG_CORE_CLIENT_ERRORS_H_
#define PROGLOG_CORE_CLIENT_ERRORS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace proglog::client {

// What the failed call's channel presented, which the causes depend on.
struct ChannelSecurity {
  bool tls = false;                 // the channel speaks TLS
  bool client_certificate = false;  // it presents a client certificate
};

// The likely cause of a refused TLS handshake, read from gRPC's text of an
// UNAVAILABLE status, or nullopt when `message` does not describe one:
// - the server's certificate did not verify (another CA, expired, not yet valid);
// - the server's certificate does not name the host dialled;
// - on a TLS channel, the server closed the connection while connecting: it
//   wanted a client certificate and got none, or refused the one sent.
std::optional<std::string> TlsHandshakeFailureCause(std::string_view message,
                                                    const ChannelSecurity& channel);

// The absl::Status for a failed call: a refused TLS handshake (see above) is
// Unauthenticated, "TLS handshake failed: <cause> (<gRPC's message>)", which
// is not retryable; any other status keeps its code, message and details
// (payload "grpc-status-details-bin").
absl::Status ClassifyRpcFailure(const grpc::Status& status, const ChannelSecurity& channel);

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_ERRORS_H_
