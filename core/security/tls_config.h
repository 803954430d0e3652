// core/security/tls_config: TLS material for the three roles a proglog process
// plays. A server serves clients, a client calls a server, and a peer talks to
// other nodes (Raft and gossip) where both ends present and verify a
// certificate. A TlsConfig is loaded once from PEM files (certificate, private
// key, CA bundle) and validated up front, so a bad file is reported at start
// with its path instead of as a failed handshake later. It exposes the PEM text
// gRPC wants and builds OpenSSL SSL_CTX objects for peer connections.
//
// The authenticated subject of a peer is the Common Name of its verified
// certificate; PeerCommonName() reads it from a finished handshake.
//
// Thread-safety: a TlsConfig is immutable after Load() and may be shared by any
// number of threads. The free functions are thread-safe. An SSL_CTX returned by
// NewPeerSslContext() follows OpenSSL's rules: safe to create SSL objects from
// concurrently, not to reconfigure while in use.
#ifndef PROGLOG_CORE_SECURITY_TLS_CONFIG_H_
#define PROGLOG_CORE_SECURITY_TLS_CONFIG_H_

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace proglog::security {

// What the certificate is used for; decides which checks Load() applies and
// which extended key usage the certificate must allow.
enum class TlsRole {
  kServer,  // presents a serverAuth certificate, verifies clients against the CA
  kClient,  // presents a clientAuth certificate, verifies the server against the CA
  kPeer,    // both at once: node-to-node links, certificate signed by the CA itself
};

std::string_view TlsRoleName(TlsRole role);

// Paths of the PEM files, as given on the command line or in the config file.
struct TlsFiles {
  std::filesystem::path cert_file;  // leaf certificate first, then any intermediates
  std::filesystem::path key_file;   // unencrypted private key (PKCS#8 or traditional)
  std::filesystem::path ca_file;    // one or more CA certificates trusted for the other end
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

class TlsConfig {
 public:
  // Reads and validates the three files. Checks, each failing with an error
  // that names the file: the files exist and are readable; the certificate
  // file holds at least one certificate and the key file a private key that
  // matches it; the CA file holds at least one CA certificate; the certificate
  // is inside its validity period and allows the role's extended key usage.
  // For kPeer the certificate must also verify against the CA file, since both
  // ends of a peer link trust the same CA.
  static absl::StatusOr<TlsConfig> Load(TlsRole role, const TlsFiles& files);

  TlsRole Role() const { return role_; }
  const TlsFiles& Files() const { return files_; }

  // PEM text exactly as read; what grpc::Ssl*CredentialsOptions expect.
  const std::string& CertChainPem() const { return cert_chain_pem_; }
  const std::string& PrivateKeyPem() const { return private_key_pem_; }
  const std::string& CaPem() const { return ca_pem_; }

  // Common Name of this process's own certificate (its identity to others).
  const std::string& CommonName() const { return common_name_; }
  // End of the leaf certificate's validity period.
  std::chrono::system_clock::time_point NotAfter() const { return not_after_; }

 private:
  TlsRole role_ = TlsRole::kClient;
  TlsFiles files_;
  std::string cert_chain_pem_;
  std::string private_key_pem_;
  std::string ca_pem_;
  std::string common_name_;
  std::chrono::system_clock::time_point not_after_;
};

// Which side of the handshake an SSL_CTX is for.
enum class HandshakeSide { kAccept, kConnect };

// Builds an SSL_CTX for a peer link: TLS 1.2 or newer, our certificate and key,
// the CA as the only trust anchor, and mutual verification (the other end must
// present a certificate that verifies against the CA, or the handshake fails).
// Works for any role, but is meant for kPeer configs.
absl::StatusOr<SslCtxPtr> NewPeerSslContext(const TlsConfig& config, HandshakeSide side);

// The Common Name of the verified certificate the other end presented on a
// finished handshake. Unauthenticated if it presented none or verification did
// not succeed; InvalidArgument if the certificate has no Common Name.
absl::StatusOr<std::string> PeerCommonName(const SSL* ssl);

// The Common Name of a certificate (the last CN entry of the subject).
absl::StatusOr<std::string> CertificateCommonName(const X509* cert);

// Text of OpenSSL's error queue (drains it), for error messages.
std::string DrainOpenSslErrors();

}  // namespace proglog::security

#endif  // PROGLOG_CORE_SECURITY_TLS_CONFIG_H_
