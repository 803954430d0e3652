#include "core/security/pem_codec.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/security/message.h"
#include "core/security/tls_config.h"

namespace proglog::security::internal {
namespace {

std::string Quote(const std::filesystem::path& path) {
  return internal::Msg("\"", path.string(), "\"");
}

BioPtr MemoryBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Refuses to prompt for a passphrase: returning 0 makes the read fail.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return absl::InternalError("empty PEM output");
  return std::string(data, static_cast<size_t>(len));
}

absl::Status ErrnoError(std::string_view action, const std::filesystem::path& path) {
  int err = errno;
  std::string message = internal::Msg(action, " ", Quote(path), ": ", std::strerror(err));
  if (err == EEXIST) return absl::AlreadyExistsError(message);
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path, std::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(internal::Msg(what, ": no path given"));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(internal::Msg(what, " ", Quote(path), ": no such file"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(internal::Msg(what, " ", Quote(path), ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(
        internal::Msg(what, " ", Quote(path), ": cannot open: ", std::strerror(errno)));
  }
  // Far above any real certificate bundle or policy; stops a wrong path such
  // as a device from being read forever.
  constexpr size_t kMaxBytes = 16u << 20;
  std::string text;
  char chunk[64 * 1024];
  while (in && text.size() <= kMaxBytes) {
    in.read(chunk, sizeof(chunk));
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::DataLossError(internal::Msg(what, " ", Quote(path), ": read failed"));
  if (text.size() > kMaxBytes) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path), ": larger than 16 MiB, not a PEM or policy file"));
  }
  return text;
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(std::string_view pem,
                                                       const std::filesystem::path& path,
                                                       std::string_view what) {
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path), ": no PEM CERTIFICATE block found"));
  }
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop ends with "no start line" once the input is used up; anything
  // else means a block was malformed.
  unsigned long err = ERR_peek_last_error();
  if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path), ": malformed certificate: ", DrainOpenSslErrors()));
  }
  ERR_clear_error();
  size_t blocks = 0;
  for (size_t at = pem.find("-----BEGIN CERTIFICATE-----"); at != std::string_view::npos;
       at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++blocks;
  }
  if (certs.size() != blocks) {
    return absl::InvalidArgumentError(internal::Msg(what, " ", Quote(path), ": ",
                                                    blocks - certs.size(), " of ", blocks,
                                                    " certificate blocks could not be parsed"));
  }
  return certs;
}

absl::StatusOr<PkeyPtr> ParsePrivateKey(std::string_view pem, const std::filesystem::path& path,
                                        std::string_view what) {
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path),
                      ": the private key is encrypted; proglog needs an unencrypted key"));
  }
  if (pem.find("PRIVATE KEY-----") == std::string_view::npos) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path), ": no PEM PRIVATE KEY block found"));
  }
  BioPtr bio = MemoryBio(pem);
  ERR_clear_error();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(
        internal::Msg(what, " ", Quote(path), ": malformed private key: ", DrainOpenSslErrors()));
  }
  return key;
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return absl::InternalError(internal::Msg("encoding certificate: ", DrainOpenSslErrors()));
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(internal::Msg("encoding private key: ", DrainOpenSslErrors()));
  }
  return BioContents(bio.get());
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text,
                                 std::filesystem::perms perms, bool overwrite) {
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec)) {
    return absl::AlreadyExistsError(
        internal::Msg(Quote(path), " already exists; not replacing it (use --force to replace)"));
  }
  std::filesystem::path tmp = path;
  tmp += internal::Msg(".tmp-", getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(perms));
  if (fd < 0) return ErrnoError("creating", tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = ErrnoError("writing", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return status;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    absl::Status status = ErrnoError("syncing", tmp);
    ::unlink(tmp.c_str());
    return status;
  }
  // link() fails if the target exists, so a file created meanwhile is kept.
  int rc = overwrite ? ::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str());
  absl::Status status = rc == 0 ? absl::OkStatus() : ErrnoError("installing", path);
  if (!overwrite || rc != 0) ::unlink(tmp.c_str());
  return status;
}

}  // namespace proglog::security::internal
