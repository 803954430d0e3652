// Internal to core/mux: relays TLS gRPC connections, byte for byte and
// untouched, between the accepted TCP socket and gRPC's own TLS listener on a
// unix-domain socket in the abstract namespace. Bytes move with splice(2)
// through a pipe per direction, so they never enter user space. One thread
// with one epoll set serves every relayed connection; a half-close in one
// direction is passed on (shutdown(SHUT_WR)), a reset closes both sockets.
//
// Thread-safety: Add() and the counters are thread-safe; Stop() may be called
// from any thread but the relay thread.
#ifndef PROGLOG_CORE_MUX_SPLICER_H_
#define PROGLOG_CORE_MUX_SPLICER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace proglog::mux::internal {

class Splicer {
 public:
  // Relays to the abstract unix socket `name` (without the leading NUL).
  static absl::StatusOr<std::unique_ptr<Splicer>> Start(std::string name);
  ~Splicer();
  Splicer(const Splicer&) = delete;
  Splicer& operator=(const Splicer&) = delete;

  // Takes ownership of `client_fd`, a connected non-blocking TCP socket from
  // `peer` ("host:port"), and connects it to the backend. Returns false (and
  // closes the socket) when the backend refuses the connection. When the
  // backend closes a young connection, `peer` goes to AwaitClosingPeer.
  bool Add(int client_fd, std::string peer);
  // Closes every relayed connection and joins the thread. Idempotent.
  void Stop();

  uint64_t Relayed() const { return relayed_.load(); }
  uint64_t Active() const { return active_.load(); }

 private:
  struct Connection;
  explicit Splicer(std::string name) : name_(std::move(name)) {}
  void Run();
  void Adopt(Connection* c);
  void Close(Connection* c);
  void NoteBackendClose(Connection* c);
  void Wake();

  std::string name_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  uint64_t relay_id_ = 0;  // in ClosingPeers
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> relayed_{0};
  std::atomic<uint64_t> active_{0};

  absl::Mutex mu_;
  std::vector<Connection*> incoming_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace proglog::mux::internal

#endif  // PROGLOG_CORE_MUX_SPLICER_H_
