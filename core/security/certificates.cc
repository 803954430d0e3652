#include "core/security/certificates.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <ostream>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "core/security/message.h"
#include "core/security/openssl_handles.h"
#include "core/security/pem_codec.h"

namespace proglog::security {
namespace {

using internal::PkeyPtr;
using internal::X509Ptr;
using Clock = std::chrono::system_clock;

// Certificates start a little in the past so a peer whose clock lags ours does
// not reject a certificate issued a moment ago.
constexpr std::chrono::minutes kClockSkewAllowance{5};

std::string Quote(const std::filesystem::path& path) {
  return internal::Msg("\"", path.string(), "\"");
}

absl::StatusOr<PkeyPtr> GenerateKey(KeyAlgorithm algorithm) {
  EVP_PKEY* key = algorithm == KeyAlgorithm::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (key == nullptr) {
    return absl::InternalError(internal::Msg("generating a key: ", DrainOpenSslErrors()));
  }
  return PkeyPtr(key);
}

absl::Status SetRandomSerial(X509* cert) {
  // 159 random bits with the top bit clear: positive and within the 20-byte
  // limit RFC 5280 sets, and unique in practice.
  internal::BignumPtr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return absl::InternalError(internal::Msg("making a serial number: ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, Clock::time_point not_before, Clock::time_point not_after) {
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("the validity period ends before it starts");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), Clock::to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), Clock::to_time_t(not_after)) == nullptr) {
    return absl::InternalError(internal::Msg("setting validity: ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status SetSubjectCommonName(X509* cert, const std::string& cn) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("proglog"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return absl::InvalidArgumentError(
        internal::Msg("common name \"", cn, "\" is not usable: ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

// Adds an extension written in OpenSSL's config syntax; `issuer` is needed for
// the authority key identifier.
absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  internal::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return absl::InternalError(
        internal::Msg("adding extension ", OBJ_nid2sn(nid), ": ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

bool IsDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '*') {
      return false;
    }
  }
  return true;
}

// Built as GENERAL_NAME objects rather than a config string, so a host can
// never smuggle extra entries in through commas.
absl::Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& hosts) {
  if (hosts.empty()) return absl::OkStatus();
  internal::GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  for (const std::string& host : hosts) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    unsigned char ip[16];
    if (inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1) {
      ASN1_OCTET_STRING* octets = a2i_IPADDRESS(host.c_str());
      GENERAL_NAME_set0_value(name, GEN_IPADD, octets);
    } else if (IsDnsName(host)) {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size()));
      GENERAL_NAME_set0_value(name, GEN_DNS, dns);
    } else {
      GENERAL_NAME_free(name);
      return absl::InvalidArgumentError(
          internal::Msg("--host \"", host, "\" is neither an IP address nor a DNS name"));
    }
    sk_GENERAL_NAME_push(names.get(), name);
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return absl::InternalError(internal::Msg("adding subjectAltName: ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status Sign(X509* cert, EVP_PKEY* signer) {
  // EdDSA keys hash internally and take no digest.
  int id = EVP_PKEY_get_id(signer);
  const EVP_MD* md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
  if (X509_sign(cert, signer, md) <= 0) {
    return absl::InternalError(internal::Msg("signing: ", DrainOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::Status RefuseExisting(const CertificateFiles& files, bool overwrite) {
  if (overwrite) return absl::OkStatus();
  for (const auto& path : {files.cert_file, files.key_file}) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return absl::AlreadyExistsError(
          internal::Msg(Quote(path), " already exists; not replacing it (use --force to replace)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WritePair(const CertificateFiles& files, X509* cert, EVP_PKEY* key, bool overwrite) {
  auto cert_pem = internal::CertificateToPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = internal::PrivateKeyToPem(key);
  if (!key_pem.ok()) return key_pem.status();
  std::error_code ec;
  std::filesystem::create_directories(files.cert_file.parent_path().empty()
                                          ? std::filesystem::path(".")
                                          : files.cert_file.parent_path(),
                                      ec);
  if (ec) {
    return absl::PermissionDeniedError(
        internal::Msg("creating folder for ", Quote(files.cert_file), ": ", ec.message()));
  }
  using std::filesystem::perms;
  if (absl::Status s = internal::WriteFileAtomically(
          files.key_file, *key_pem, perms::owner_read | perms::owner_write, overwrite);
      !s.ok()) {
    return s;
  }
  return internal::WriteFileAtomically(
      files.cert_file, *cert_pem,
      perms::owner_read | perms::owner_write | perms::group_read | perms::others_read, overwrite);
}

CertificateFiles FilesFor(const std::filesystem::path& dir, const std::string& stem) {
  return {dir / (stem + ".pem"), dir / (stem + "-key.pem")};
}

bool IsSafeStem(std::string_view stem) {
  if (stem.empty() || stem.front() == '.') return false;
  for (char c : stem) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> ResolveStem(const IssueOptions& options) {
  if (!options.file_stem.empty()) {
    if (!IsSafeStem(options.file_stem)) {
      return absl::InvalidArgumentError(internal::Msg(
          "--name \"", options.file_stem, "\": use letters, digits, '.', '-' and '_' only"));
    }
    return options.file_stem;
  }
  if (options.role == TlsRole::kServer) return std::string("server");
  std::string stem = internal::Msg(options.common_name, "-", TlsRoleName(options.role));
  if (!IsSafeStem(stem)) {
    return absl::InvalidArgumentError(internal::Msg(
        "common name \"", options.common_name, "\" cannot be used as a file name; give --name"));
  }
  return stem;
}

struct LoadedCa {
  X509Ptr cert;
  PkeyPtr key;
};

absl::StatusOr<LoadedCa> LoadCa(const std::filesystem::path& cert_file,
                                const std::filesystem::path& key_file) {
  auto cert_pem = internal::ReadTextFile(cert_file, "CA certificate file");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = internal::ReadTextFile(key_file, "CA key file");
  if (!key_pem.ok()) return key_pem.status();
  auto certs = internal::ParseCertificates(*cert_pem, cert_file, "CA certificate file");
  if (!certs.ok()) return certs.status();
  auto key = internal::ParsePrivateKey(*key_pem, key_file, "CA key file");
  if (!key.ok()) return key.status();
  X509Ptr cert = std::move(certs->front());
  if (X509_check_ca(cert.get()) <= 0) {
    return absl::InvalidArgumentError(
        internal::Msg("CA certificate file ", Quote(cert_file), ": not a CA certificate"));
  }
  if (X509_check_private_key(cert.get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(internal::Msg(
        "CA key file ", Quote(key_file), " does not match CA certificate file ", Quote(cert_file)));
  }
  return LoadedCa{std::move(cert), *std::move(key)};
}

const char* ExtendedKeyUsage(TlsRole role) {
  switch (role) {
    case TlsRole::kServer:
      return "serverAuth";
    case TlsRole::kClient:
      return "clientAuth";
    case TlsRole::kPeer:
      return "serverAuth,clientAuth";
  }
  return "";
}

}  // namespace

absl::StatusOr<CertificateFiles> CreateCertificateAuthority(const CaOptions& options) {
  if (!IsSafeStem(options.file_stem)) {
    return absl::InvalidArgumentError(internal::Msg(
        "--name \"", options.file_stem, "\": use letters, digits, '.', '-' and '_' only"));
  }
  if (options.common_name.empty()) return absl::InvalidArgumentError("--cn must not be empty");
  if (options.valid_days <= 0) return absl::InvalidArgumentError("--days must be positive");
  CertificateFiles files = FilesFor(options.out_dir, options.file_stem);
  if (absl::Status s = RefuseExisting(files, options.overwrite); !s.ok()) return s;

  auto key = GenerateKey(options.key_algorithm);
  if (!key.ok()) return key.status();
  X509Ptr cert(X509_new());
  X509* x = cert.get();
  Clock::time_point now = Clock::now();
  absl::Status s = X509_set_version(x, X509_VERSION_3) == 1
                       ? absl::OkStatus()
                       : absl::InternalError("setting version");
  if (s.ok()) s = SetRandomSerial(x);
  if (s.ok())
    s = SetValidity(x, now - kClockSkewAllowance, now + std::chrono::days(options.valid_days));
  if (s.ok()) s = SetSubjectCommonName(x, options.common_name);
  if (s.ok() && X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
    s = absl::InternalError("setting issuer");
  }
  if (s.ok() && X509_set_pubkey(x, key->get()) != 1) s = absl::InternalError("setting key");
  if (s.ok()) s = AddExtension(x, x, NID_basic_constraints, "critical,CA:TRUE");
  if (s.ok())
    s = AddExtension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  if (s.ok()) s = AddExtension(x, x, NID_subject_key_identifier, "hash");
  if (s.ok()) s = AddExtension(x, x, NID_authority_key_identifier, "keyid:always");
  if (s.ok()) s = Sign(x, key->get());
  if (s.ok()) s = WritePair(files, x, key->get(), options.overwrite);
  if (!s.ok()) return s;
  return files;
}

absl::StatusOr<CertificateFiles> IssueCertificate(const IssueOptions& options) {
  if (options.common_name.empty()) return absl::InvalidArgumentError("--cn is required");
  if (options.valid_days <= 0) return absl::InvalidArgumentError("--days must be positive");
  auto stem = ResolveStem(options);
  if (!stem.ok()) return stem.status();
  CertificateFiles files = FilesFor(options.out_dir, *stem);
  if (absl::Status s = RefuseExisting(files, options.overwrite); !s.ok()) return s;
  auto ca =
      LoadCa(options.ca_cert_file.empty() ? options.out_dir / "ca.pem" : options.ca_cert_file,
             options.ca_key_file.empty() ? options.out_dir / "ca-key.pem" : options.ca_key_file);
  if (!ca.ok()) return ca.status();

  std::vector<std::string> hosts = options.hosts;
  if (hosts.empty() && options.role != TlsRole::kClient) hosts = {"localhost", "127.0.0.1"};
  auto key = GenerateKey(options.key_algorithm);
  if (!key.ok()) return key.status();
  Clock::time_point now = Clock::now();
  Clock::time_point not_before = options.not_before.value_or(now - kClockSkewAllowance);
  Clock::time_point not_after =
      options.not_after.value_or(now + std::chrono::days(options.valid_days));

  X509Ptr cert(X509_new());
  X509* x = cert.get();
  X509* issuer = ca->cert.get();
  bool rsa = EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_RSA;
  absl::Status s = X509_set_version(x, X509_VERSION_3) == 1
                       ? absl::OkStatus()
                       : absl::InternalError("setting version");
  if (s.ok()) s = SetRandomSerial(x);
  if (s.ok()) s = SetValidity(x, not_before, not_after);
  if (s.ok()) s = SetSubjectCommonName(x, options.common_name);
  if (s.ok() && X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1) {
    s = absl::InternalError("setting issuer");
  }
  if (s.ok() && X509_set_pubkey(x, key->get()) != 1) s = absl::InternalError("setting key");
  if (s.ok()) s = AddExtension(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
  if (s.ok()) {
    s = AddExtension(
        x, issuer, NID_key_usage,
        rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
  }
  if (s.ok()) s = AddExtension(x, issuer, NID_ext_key_usage, ExtendedKeyUsage(options.role));
  if (s.ok()) s = AddExtension(x, issuer, NID_subject_key_identifier, "hash");
  if (s.ok() && X509_get_ext_by_NID(issuer, NID_subject_key_identifier, -1) >= 0) {
    s = AddExtension(x, issuer, NID_authority_key_identifier, "keyid:always");
  }
  if (s.ok()) s = AddSubjectAltNames(x, hosts);
  if (s.ok()) s = Sign(x, ca->key.get());
  if (s.ok()) s = WritePair(files, x, key->get(), options.overwrite);
  if (!s.ok()) return s;
  return files;
}

namespace {

int Fail(std::ostream& err, const absl::Status& status) {
  err << "proglog cert: " << status.message() << "\n";
  return 1;
}

int RunCertCommandUnguarded(const std::vector<std::string>& args, std::ostream& out,
                            std::ostream& err) {
  CLI::App app{"Make a cluster CA and the certificates its servers, clients and peers present.",
               "proglog cert"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all");

  CaOptions ca;
  std::string ca_key_type = "ec";
  CLI::App* ca_cmd = app.add_subcommand("ca", "Create a CA: <dir>/ca.pem and <dir>/ca-key.pem");
  ca_cmd->add_option("--dir", ca.out_dir, "Output folder")->capture_default_str();
  ca_cmd->add_option("--cn", ca.common_name, "CA Common Name")->capture_default_str();
  ca_cmd->add_option("--name", ca.file_stem, "File stem: <name>.pem, <name>-key.pem")
      ->capture_default_str();
  ca_cmd->add_option("--days", ca.valid_days, "Validity in days")->capture_default_str();
  ca_cmd->add_option("--key-type", ca_key_type, "ec (P-256) or rsa (2048)")
      ->check(CLI::IsMember({"ec", "rsa"}))
      ->capture_default_str();
  ca_cmd->add_flag("--force", ca.overwrite, "Replace existing files");

  IssueOptions issue;
  std::string role = "client";
  std::string issue_key_type = "ec";
  CLI::App* issue_cmd = app.add_subcommand(
      "issue", "Issue a certificate signed by the CA: <dir>/<name>.pem and <dir>/<name>-key.pem");
  issue_cmd->add_option("--role", role, "server, client or peer")
      ->required()
      ->check(CLI::IsMember({"server", "client", "peer"}));
  issue_cmd->add_option("--cn", issue.common_name, "Common Name: the subject the ACL authorizes")
      ->required();
  issue_cmd->add_option("--host", issue.hosts,
                        "IP address or DNS name for subjectAltName (repeatable); "
                        "server/peer default: localhost and 127.0.0.1");
  issue_cmd->add_option("--dir", issue.out_dir, "Output folder (and CA location by default)")
      ->capture_default_str();
  issue_cmd->add_option("--ca-cert", issue.ca_cert_file, "CA certificate (default <dir>/ca.pem)");
  issue_cmd->add_option("--ca-key", issue.ca_key_file, "CA private key (default <dir>/ca-key.pem)");
  issue_cmd->add_option("--name", issue.file_stem,
                        "File stem (default: server, <cn>-client or <cn>-peer)");
  issue_cmd->add_option("--days", issue.valid_days, "Validity in days")->capture_default_str();
  issue_cmd->add_option("--key-type", issue_key_type, "ec (P-256) or rsa (2048)")
      ->check(CLI::IsMember({"ec", "rsa"}))
      ->capture_default_str();
  issue_cmd->add_flag("--force", issue.overwrite, "Replace existing files");

  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "proglog cert: " << e.what() << "\n";
    err << "Run `proglog cert --help` for usage.\n";
    return 2;
  }
  auto key_algorithm = [](const std::string& type) {
    return type == "rsa" ? KeyAlgorithm::kRsa2048 : KeyAlgorithm::kEcdsaP256;
  };
  if (ca_cmd->parsed()) {
    ca.key_algorithm = key_algorithm(ca_key_type);
    auto files = CreateCertificateAuthority(ca);
    if (!files.ok()) return Fail(err, files.status());
    out << "wrote " << files->cert_file.string() << " and " << files->key_file.string() << "\n";
    return 0;
  }
  issue.role = role == "server" ? TlsRole::kServer
               : role == "peer" ? TlsRole::kPeer
                                : TlsRole::kClient;
  issue.key_algorithm = key_algorithm(issue_key_type);
  auto files = IssueCertificate(issue);
  if (!files.ok()) return Fail(err, files.status());
  out << "wrote " << files->cert_file.string() << " and " << files->key_file.string() << "\n";
  return 0;
}

}  // namespace

int RunCertCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  // CLI11 and the standard library report some failures by throwing; none
  // may escape to the caller.
  try {
    return RunCertCommandUnguarded(args, out, err);
  } catch (const std::exception& e) {
    err << "proglog cert: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace proglog::security
