#include "core/client/errors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace proglog::client {
namespace {

bool Contains(const std::string& text, std::string_view fragment) {
  return text.find(fragment) != std::string::npos;
}

}  // namespace

std::optional<std::string> TlsHandshakeFailureCause(std::string_view message,
                                                    const ChannelSecurity& channel) {
  std::string lower(message);
  absl::AsciiStrToLower(&lower);
  // gRPC names the host check in its own words; OpenSSL's verification
  // failures (unknown CA, expired, not yet valid) all read "certificate verify
  // failed" on the client, whatever the server's log says.
  if (Contains(lower, "is not in peer certificate") || Contains(lower, "peer name")) {
    return "the server's certificate does not name the host dialled (connect by a name the "
           "certificate lists, or set the TLS server name to one)";
  }
  if (Contains(lower, "certificate verify failed") ||
      Contains(lower, "certificate_verify_failed")) {
    return "the server's certificate did not verify: it is not signed by a CA this client "
           "trusts, or it has expired or is not yet valid (check the CA file, the certificate's "
           "dates and the clocks)";
  }
  // The server refuses a client certificate after the client's side of the
  // handshake is done (TLS 1.3), so the client only sees the socket close
  // while connecting; a server that is down refuses the connection instead.
  if (channel.tls && Contains(lower, "failed to connect") && Contains(lower, "socket closed")) {
    if (!channel.client_certificate) {
      return "the server requires a client certificate and none was sent (give a certificate "
             "and key signed by the CA the server trusts)";
    }
    return "the server refused the client certificate: it is not signed by the CA the server "
           "trusts, or it has expired or is not yet valid";
  }
  return std::nullopt;
}

absl::Status ClassifyRpcFailure(const grpc::Status& status, const ChannelSecurity& channel) {
  if (status.ok()) return absl::OkStatus();
  const std::string& message = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (std::optional<std::string> cause = TlsHandshakeFailureCause(message, channel)) {
      return absl::UnauthenticatedError(
          absl::StrCat("TLS handshake failed: ", *cause, " (", message, ")"));
    }
  }
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), message);
  if (!status.error_details().empty()) {
    out.SetPayload("grpc-status-details-bin", absl::Cord(status.error_details()));
  }
  return out;
}

}  // namespace proglog::client
