#include "core/security/tls_config.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <utility>
#include <vector>

#include "core/security/message.h"
#include "core/security/openssl_handles.h"
#include "core/security/pem_codec.h"

namespace proglog::security {
namespace {

using internal::ParseCertificates;
using internal::ParsePrivateKey;
using internal::ReadTextFile;
using internal::X509Ptr;

std::string Quote(const std::filesystem::path& path) {
  return internal::Msg("\"", path.string(), "\"");
}

absl::StatusOr<std::chrono::system_clock::time_point> ToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InvalidArgumentError("unreadable ASN.1 time");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string TimeText(const ASN1_TIME* t) {
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "?";
}

absl::Status CheckValidityPeriod(X509* cert, const std::filesystem::path& path) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    return absl::FailedPreconditionError(internal::Msg("cert file ", Quote(path),
                                                       ": certificate expired on ",
                                                       TimeText(X509_get0_notAfter(cert))));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::FailedPreconditionError(internal::Msg("cert file ", Quote(path),
                                                       ": certificate is not valid before ",
                                                       TimeText(X509_get0_notBefore(cert))));
  }
  return absl::OkStatus();
}

absl::Status CheckPurpose(X509* cert, TlsRole role, const std::filesystem::path& path) {
  struct Need {
    int purpose;
    const char* use;
  };
  std::vector<Need> needs;
  if (role != TlsRole::kClient) needs.push_back({X509_PURPOSE_SSL_SERVER, "TLS server"});
  if (role != TlsRole::kServer) needs.push_back({X509_PURPOSE_SSL_CLIENT, "TLS client"});
  for (const Need& need : needs) {
    if (X509_check_purpose(cert, need.purpose, 0) != 1) {
      return absl::InvalidArgumentError(
          internal::Msg("cert file ", Quote(path), ": the certificate's key usage does not allow ",
                        need.use, " use, which the ", TlsRoleName(role),
                        " role needs (issue it with --role ", TlsRoleName(role), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyAgainstCa(X509* leaf, const std::vector<X509Ptr>& chain,
                             const std::vector<X509Ptr>& cas, const TlsFiles& files) {
  internal::X509StorePtr store(X509_STORE_new());
  for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  internal::X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  internal::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return absl::InternalError(internal::Msg("verifier setup: ", DrainOpenSslErrors()));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return absl::InvalidArgumentError(
        internal::Msg("cert file ", Quote(files.cert_file), " does not verify against CA file ",
                      Quote(files.ca_file), ": ", X509_verify_cert_error_string(err),
                      " (a peer certificate must be issued by the cluster's CA)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<X509Ptr>> LoadCaCertificates(const std::string& pem,
                                                        const std::filesystem::path& path) {
  auto cas = ParseCertificates(pem, path, "CA file");
  if (!cas.ok()) return cas.status();
  for (const X509Ptr& ca : *cas) {
    if (X509_check_ca(ca.get()) <= 0) {
      auto cn = CertificateCommonName(ca.get());
      return absl::InvalidArgumentError(internal::Msg(
          "CA file ", Quote(path), ": certificate \"", cn.ok() ? *cn : "?",
          "\" is not a CA certificate (no CA basic constraint); was a leaf certificate given "
          "as the CA?"));
    }
  }
  return cas;
}

}  // namespace

std::string_view TlsRoleName(TlsRole role) {
  switch (role) {
    case TlsRole::kServer:
      return "server";
    case TlsRole::kClient:
      return "client";
    case TlsRole::kPeer:
      return "peer";
  }
  return "?";
}

std::string DrainOpenSslErrors() {
  std::string text;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

absl::StatusOr<TlsConfig> TlsConfig::Load(TlsRole role, const TlsFiles& files) {
  TlsConfig config;
  config.role_ = role;
  config.files_ = files;
  auto cert_pem = ReadTextFile(files.cert_file, "cert file");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadTextFile(files.key_file, "key file");
  if (!key_pem.ok()) return key_pem.status();
  auto ca_pem = ReadTextFile(files.ca_file, "CA file");
  if (!ca_pem.ok()) return ca_pem.status();

  auto chain = ParseCertificates(*cert_pem, files.cert_file, "cert file");
  if (!chain.ok()) return chain.status();
  auto key = ParsePrivateKey(*key_pem, files.key_file, "key file");
  if (!key.ok()) return key.status();
  auto cas = LoadCaCertificates(*ca_pem, files.ca_file);
  if (!cas.ok()) return cas.status();

  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(internal::Msg("key file ", Quote(files.key_file),
                                                    " does not hold the private key of cert file ",
                                                    Quote(files.cert_file)));
  }
  if (absl::Status s = CheckValidityPeriod(leaf, files.cert_file); !s.ok()) return s;
  if (absl::Status s = CheckPurpose(leaf, role, files.cert_file); !s.ok()) return s;
  if (role == TlsRole::kPeer) {
    if (absl::Status s = VerifyAgainstCa(leaf, *chain, *cas, files); !s.ok()) return s;
  }
  auto cn = CertificateCommonName(leaf);
  if (!cn.ok()) {
    return absl::InvalidArgumentError(
        internal::Msg("cert file ", Quote(files.cert_file), ": ", cn.status().message()));
  }
  auto not_after = ToTimePoint(X509_get0_notAfter(leaf));
  if (!not_after.ok()) return not_after.status();

  config.cert_chain_pem_ = *std::move(cert_pem);
  config.private_key_pem_ = *std::move(key_pem);
  config.ca_pem_ = *std::move(ca_pem);
  config.common_name_ = *std::move(cn);
  config.not_after_ = *not_after;
  return config;
}

absl::StatusOr<std::string> CertificateCommonName(const X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  int index = -1;
  for (int next = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); next >= 0;
       next = X509_NAME_get_index_by_NID(subject, NID_commonName, next)) {
    index = next;
  }
  if (index < 0) return absl::InvalidArgumentError("certificate has no Common Name");
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return absl::InvalidArgumentError("certificate Common Name is not valid text");
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  if (cn.empty()) return absl::InvalidArgumentError("certificate Common Name is empty");
  return cn;
}

absl::StatusOr<std::string> PeerCommonName(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return absl::UnauthenticatedError("peer presented no certificate");
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return absl::UnauthenticatedError(
        internal::Msg("peer certificate did not verify: ", X509_verify_cert_error_string(verify)));
  }
  return CertificateCommonName(cert);
}

absl::StatusOr<SslCtxPtr> NewPeerSslContext(const TlsConfig& config, HandshakeSide side) {
  const TlsFiles& files = config.Files();
  auto chain = ParseCertificates(config.CertChainPem(), files.cert_file, "cert file");
  if (!chain.ok()) return chain.status();
  auto key = ParsePrivateKey(config.PrivateKeyPem(), files.key_file, "key file");
  if (!key.ok()) return key.status();
  auto cas = ParseCertificates(config.CaPem(), files.ca_file, "CA file");
  if (!cas.ok()) return cas.status();

  SslCtxPtr ctx(
      SSL_CTX_new(side == HandshakeSide::kAccept ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return absl::InternalError(internal::Msg("SSL_CTX_new: ", DrainOpenSslErrors()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);

  internal::X509StackPtr extra(sk_X509_new_null());
  for (size_t i = 1; i < chain->size(); ++i) {
    X509_up_ref((*chain)[i].get());
    sk_X509_push(extra.get(), (*chain)[i].get());
  }
  if (SSL_CTX_use_cert_and_key(ctx.get(), chain->front().get(), key->get(), extra.get(), 1) != 1) {
    return absl::InvalidArgumentError(
        internal::Msg("installing certificate and key: ", DrainOpenSslErrors()));
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  for (const X509Ptr& ca : *cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return absl::InvalidArgumentError(internal::Msg("adding CA: ", DrainOpenSslErrors()));
    }
    if (side == HandshakeSide::kAccept) SSL_CTX_add_client_CA(ctx.get(), ca.get());
  }
  // The other end's certificate must allow the use it is put to: the acceptor
  // checks the connector's certificate as a TLS client, and the other way round.
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(
      param, side == HandshakeSide::kAccept ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

}  // namespace proglog::security
