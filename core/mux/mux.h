// core/mux: one TCP listener for everything a node serves on its RPC port.
// The first byte of each accepted connection decides who gets it:
// wire::kRaftConnectionByte (0x01) is a Raft connection, anything else is
// gRPC (an HTTP/2 preface or a TLS ClientHello), passed on untouched.
//
// One thread owns the listener and every connection that has not yet been
// classified: it accepts, peeks the first byte (MSG_PEEK) with a deadline so a
// silent connection is closed instead of pinning anything, and for Raft runs
// the peer TLS handshake without blocking. Then:
//   - Raft: the byte is consumed; with a peer TLS context the connection must
//     complete mutual TLS (a certificate from another CA, no certificate, or
//     bytes that are not TLS are refused, logged and counted); the resulting
//     Stream goes to the Raft handler.
//   - gRPC: the socket, its first byte still unread, goes to the gRPC handler,
//     which owns it from then on. The node's handler gives it to its gRPC
//     server's external connection acceptor (server::Server::AddConnection),
//     and gRPC runs the TLS handshake itself: TLS stays end to end between
//     client and gRPC, the ACL sees the client certificate, and no byte passes
//     through the mux after the first peek. With grpc_tls, the mux also watches
//     each new connection through its handshake so that a handshake gRPC
//     refuses can name its client (handshake_watcher.h).
//
// How a node wires it:
//   auto mux = Mux::Listen({.address = "0.0.0.0:8400", .grpc_tls = tls, .raft_tls = ctx});
//   auto server = server::Server::Start(log, {.no_listener = true, .credentials = creds});
//   mux->Start([&](int fd) { return server->AddConnection(fd); },
//              [&](std::unique_ptr<Stream> s) { transport.Accept(std::move(s)); });
//   ... on stop: mux->StopAccepting(); server->Shutdown(); mux->Shutdown();
//
// Thread-safety: all methods are thread-safe. The Raft handler runs on the mux
// thread and must not block (hand the stream to another thread).
#ifndef PROGLOG_CORE_MUX_MUX_H_
#define PROGLOG_CORE_MUX_MUX_H_

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/mux/stream.h"

namespace proglog::mux {

namespace internal {
class HandshakeWatcher;
}  // namespace internal

struct Options {
  // "host:port" to listen on; port 0 picks a free port (see Port()).
  // Default: "127.0.0.1:0".
  std::string address = "127.0.0.1:0";
  // The gRPC server uses TLS credentials: new gRPC connections are watched
  // through their handshake (handshake_watcher.h). Default: false (plaintext).
  bool grpc_tls = false;
  // Mutual TLS for inbound Raft connections: a kAccept context from
  // security::NewPeerSslContext. Borrowed; must outlive the mux.
  // Default: null (plaintext Raft).
  SSL_CTX* raft_tls = nullptr;
  // Time a new connection has to send its first byte and, for Raft over TLS,
  // to finish the handshake. Default: 5 s.
  std::chrono::milliseconds handshake_timeout{5000};
  // Connections accepted but not yet classified; beyond this new ones are
  // closed at once. Default: 1024.
  int max_pending = 1024;
};

// Counters since Listen(); each is monotonic.
struct Stats {
  uint64_t accepted = 0;
  uint64_t grpc = 0;              // handed to the gRPC handler
  uint64_t raft = 0;              // handed to the Raft handler
  uint64_t timed_out = 0;         // no first byte / no finished handshake in time
  uint64_t closed_early = 0;      // closed by the other end before its first byte
  uint64_t raft_tls_refused = 0;  // peer certificate missing or not from our CA
  uint64_t raft_garbage = 0;      // after 0x01: not a TLS handshake we could finish
  uint64_t unserved = 0;          // no handler, or the gRPC handler refused it
  uint64_t over_capacity = 0;     // closed because max_pending were waiting
};

// Takes ownership of the socket `fd` (connected, non-blocking, first byte
// unread) and closes it when it returns an error; called on the mux thread,
// must not block.
using GrpcHandler = std::function<absl::Status(int fd)>;
// Takes ownership of the stream; called on the mux thread, must not block.
using RaftHandler = std::function<void(std::unique_ptr<Stream> stream)>;

class Mux {
 public:
  // Binds and listens (so the port is known and reserved); accepts nothing
  // until Start(). Unavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Mux>> Listen(Options options);
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  int Port() const { return port_; }
  // "host:port" actually bound.
  std::string Address() const;

  // Starts accepting. `grpc` receives the gRPC connections, `raft` the Raft
  // streams; a null handler closes its connections. FailedPrecondition if
  // called twice.
  absl::Status Start(GrpcHandler grpc, RaftHandler raft);

  // Closes the listener and every unclassified connection. Connections handed
  // to a handler are theirs and untouched.
  void StopAccepting();
  // StopAccepting(), then stops watching handshakes. Idempotent.
  void Shutdown();

  Stats GetStats() const;

 private:
  struct Pending;
  explicit Mux(Options options);
  void Run();
  void OnAccept();
  void OnPendingEvent(int fd);
  void HandshakeStep(int fd, Pending& p);
  void ClosePending(int fd);
  void HandToGrpc(int fd, std::string peer);
  void HandToRaft(int fd, security::SslPtr ssl, std::string peer_name);

  Options options_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::string host_;
  std::unique_ptr<internal::HandshakeWatcher> watcher_;  // with grpc_tls
  GrpcHandler grpc_;
  RaftHandler raft_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // Accepted, not yet classified connections by fd; mux thread only.
  std::unordered_map<int, std::unique_ptr<Pending>> pending_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool accepting_stopped_ ABSL_GUARDED_BY(mu_) = false;

  struct Counters {
    std::atomic<uint64_t> accepted{0}, grpc{0}, raft{0}, timed_out{0}, closed_early{0},
        raft_tls_refused{0}, raft_garbage{0}, unserved{0}, over_capacity{0};
  };
  Counters counters_;
};

}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_MUX_H_
