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
//   - gRPC, plaintext: the socket is given to the gRPC server
//     (grpc::AddInsecureChannelFromFd), which then owns it.
//   - gRPC, TLS: gRPC 1.51 accepts only insecure connections from an fd, so
//     gRPC's own TLS listener is bound to a private unix socket in the abstract
//     namespace (GrpcListenAddress()) and the mux relays bytes between the TCP
//     connection and it with splice(2). TLS stays end to end between client and
//     gRPC, and the ACL sees the client certificate as usual. No second TCP port.
//
// How a node wires it:
//   auto mux = Mux::Listen({.address = "0.0.0.0:8400", .grpc_tls = tls, .raft_tls = ctx});
//   grpc::ServerBuilder b;   // no listening port at all when GrpcListenAddress() is empty
//   if (!mux->GrpcListenAddress().empty()) b.AddListeningPort(mux->GrpcListenAddress(), creds);
//   auto server = b.BuildAndStart();
//   mux->Start(server.get(), [&](std::unique_ptr<Stream> s) { transport.Accept(std::move(s)); });
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

namespace grpc {
class Server;
}  // namespace grpc

namespace proglog::mux {

namespace internal {
class Splicer;
}  // namespace internal

struct Options {
  // "host:port" to listen on; port 0 picks a free port (see Port()).
  // Default: "127.0.0.1:0".
  std::string address = "127.0.0.1:0";
  // The gRPC server uses TLS credentials: it listens on GrpcListenAddress() and
  // the mux relays to it. Default: false (plaintext, sockets handed to gRPC).
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
  uint64_t grpc = 0;              // handed to gRPC (directly or relayed)
  uint64_t raft = 0;              // handed to the Raft handler
  uint64_t timed_out = 0;         // no first byte / no finished handshake in time
  uint64_t closed_early = 0;      // closed by the other end before its first byte
  uint64_t raft_tls_refused = 0;  // peer certificate missing or not from our CA
  uint64_t raft_garbage = 0;      // after 0x01: not a TLS handshake we could finish
  uint64_t unserved = 0;          // no gRPC server / Raft handler, or relay failure
  uint64_t over_capacity = 0;     // closed because max_pending were waiting
  uint64_t relayed_active = 0;    // TLS gRPC connections currently relayed
};

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

  // Where the gRPC server must listen: empty with plaintext gRPC (add no
  // listening port; Start() hands the server its connections), otherwise a
  // "unix-abstract:..." address for ServerBuilder::AddListeningPort with the
  // server's TLS credentials.
  const std::string& GrpcListenAddress() const { return grpc_listen_address_; }

  // Starts accepting. `grpc_server` (borrowed; must stay alive until
  // Shutdown()) receives the gRPC connections; null closes them. `raft` null
  // closes Raft connections. FailedPrecondition if called twice.
  absl::Status Start(grpc::Server* grpc_server, RaftHandler raft);

  // Closes the listener and every unclassified connection; relayed TLS gRPC
  // connections keep flowing so the gRPC server can shut down gracefully.
  void StopAccepting();
  // StopAccepting(), then closes the relayed connections. Connections handed
  // to gRPC or the Raft handler are theirs and untouched. Idempotent.
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
  std::string grpc_listen_address_;
  std::unique_ptr<internal::Splicer> splicer_;
  grpc::Server* grpc_server_ = nullptr;
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
