// core/mux/stream: a connected byte stream between two nodes, a TCP socket
// optionally wrapped in an OpenSSL session (mutual TLS for peers). Blocking
// I/O; the socket's SO_RCVTIMEO/SO_SNDTIMEO bound each call. Dial() makes the
// client side of a Raft connection (the mux byte, then the TLS handshake);
// the mux makes the server side.
//
// Thread-safety: one thread may Read() while another calls Shutdown(); Read()
// and Write() must not run concurrently on a TLS stream (OpenSSL's rule), and
// the transport uses each stream in one direction only.
#ifndef PROGLOG_CORE_MUX_STREAM_H_
#define PROGLOG_CORE_MUX_STREAM_H_

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/security/tls_config.h"

namespace proglog::mux {

class Stream {
 public:
  // Takes ownership of `fd` (closed by the destructor) and of `ssl`, which
  // must be null (plaintext) or a session whose handshake finished over `fd`.
  Stream(int fd, security::SslPtr ssl, std::string peer_name);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Up to `n` bytes; 0 means the other end closed the stream. Unavailable on a
  // reset, a timeout or a TLS error.
  absl::StatusOr<size_t> Read(char* buf, size_t n);
  // All of `data`, or Unavailable.
  absl::Status Write(std::string_view data);
  // As much of `data` as the socket takes without blocking (0 when its send
  // buffer is full), or Unavailable. Plaintext only: FailedPrecondition on a
  // TLS stream, whose records cannot be cut short and finished by Write().
  absl::StatusOr<size_t> TryWrite(std::string_view data);
  // Makes a blocked Read()/Write() on another thread return; idempotent.
  void Shutdown();

  int Fd() const { return fd_; }
  bool IsTls() const { return ssl_ != nullptr; }
  // Common Name of the verified peer certificate; empty for plaintext.
  const std::string& PeerName() const { return peer_name_; }

 private:
  int fd_;
  security::SslPtr ssl_;
  std::string peer_name_;
};

// Connects to "host:port", sends the Raft connection byte and, with `tls` (a
// kConnect context from security::NewPeerSslContext), runs the TLS handshake,
// which verifies the server's certificate against the CA. `timeout` bounds the
// connect and the handshake and is then the stream's per-call I/O timeout.
absl::StatusOr<std::unique_ptr<Stream>> DialRaft(const std::string& address, SSL_CTX* tls,
                                                 std::chrono::milliseconds timeout);

// OpenSSL writes to its socket with write(2), which raises SIGPIPE when the
// other end is gone. Every thread of this component that writes to a socket
// calls this first, so the write fails with EPIPE instead of killing the
// process; a thread of the caller's that writes to a TLS Stream should too.
void BlockSigpipeInThisThread();

namespace internal {
// Sets SO_RCVTIMEO and SO_SNDTIMEO.
absl::Status SetIoTimeout(int fd, std::chrono::milliseconds timeout);
}  // namespace internal

}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_STREAM_H_
