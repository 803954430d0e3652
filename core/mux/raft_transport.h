// core/mux/raft_transport: raft::Transport over TCP, through the port mux.
// Each peer gets one outbound connection, dialed to the peer's RPC address
// with the Raft connection byte (0x01) and, when configured, mutual TLS, and
// fed by a bounded queue: Send() never blocks, a message that finds the queue
// full is dropped (Raft retries), a broken connection is redialed with
// exponential backoff. Connections are one-way: a node sends on the
// connections it dialed and receives on those the mux accepted (Accept()),
// whose frames are decoded and handed to the `deliver` callback. Frames carry
// the cluster id; a frame for another cluster, or bytes that are not frames,
// close the connection and are counted.
//
// Wiring in a node:
//   RaftTransport transport({.node_id = id, .cluster_id = cid,
//                            .resolve = [&](uint64_t peer) { return gossip.RpcAddr(peer); },
//                            .deliver = [&](raft::Message m) { driver.EnqueueMessage(std::move(m));
//                            }, .dial_tls = peer_connect_ctx});
//   mux->Start(grpc_server, [&](std::unique_ptr<Stream> s) { transport.Accept(std::move(s)); });
//   Driver driver(&raft, &storage, &transport, &state_machine);
//
// Thread-safety: every method is thread-safe. `resolve` runs on a peer's
// sender thread and `deliver` on a connection's reader thread; neither may
// block for long.
#ifndef PROGLOG_CORE_MUX_RAFT_TRANSPORT_H_
#define PROGLOG_CORE_MUX_RAFT_TRANSPORT_H_

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/mux/raft_codec.h"
#include "core/mux/stream.h"
#include "core/raft/driver.h"
#include "core/raft/types.h"

namespace proglog::mux {

struct RaftTransportOptions {
  // This node's Raft id; inbound messages addressed to another id are dropped.
  uint64_t node_id = raft::kNoNode;
  // Both ends must agree; frames with another id are refused. kAnyCluster (0,
  // the default): not known yet; the first nonzero id an inbound frame carries
  // is adopted (and reported to `on_cluster_id`), and checked from then on.
  uint64_t cluster_id = kAnyCluster;
  // Told once, on a reader thread, when the transport adopts a cluster id, so
  // the node can keep it. Null: not told.
  std::function<void(uint64_t cluster_id)> on_cluster_id;
  // Peer id -> "host:port" of its RPC port (the mux); nullopt while unknown
  // (messages to it are dropped). Required.
  std::function<std::optional<std::string>(uint64_t peer)> resolve;
  // Receives every inbound message. Required.
  std::function<void(raft::Message message)> deliver;
  // Called on the reader thread once the messages decoded from one read of a
  // connection were all passed to `deliver`, so the receiver can act on them
  // together (the node runs one Raft iteration for them). Null: not called.
  std::function<void()> delivered;
  // Mutual TLS for outbound connections: a kConnect context from
  // security::NewPeerSslContext. Borrowed; must outlive the transport.
  // Default: null (plaintext).
  SSL_CTX* dial_tls = nullptr;
  // Messages waiting per peer before Send() drops. Default: 4096.
  size_t max_queued_messages = 4096;
  // Bounds a dial (connect and handshake) and each blocking write. Default: 2 s.
  std::chrono::milliseconds io_timeout{2000};
  // Redial backoff, doubling from min to max after each failure. Default: 20 ms, 2 s.
  std::chrono::milliseconds min_backoff{20};
  std::chrono::milliseconds max_backoff{2000};
  // Largest frame body accepted. Default: kDefaultMaxRaftFrameBody.
  uint32_t max_frame_bytes = kDefaultMaxRaftFrameBody;
};

struct RaftTransportStats {
  uint64_t sent = 0;                // messages written to a connection
  uint64_t dropped_queue_full = 0;  // Send() found the peer's queue full
  uint64_t dropped_unresolved = 0;  // no address for the peer
  uint64_t dropped_broken = 0;      // lost with a connection that failed mid-write
  uint64_t dial_failures = 0;
  uint64_t received = 0;       // messages delivered
  uint64_t misaddressed = 0;   // well-formed but for another node id
  uint64_t wrong_cluster = 0;  // connections closed: frame for another cluster
  uint64_t garbage = 0;        // connections closed: bytes that are not frames
  uint64_t inbound_accepted = 0;
};

class RaftTransport final : public raft::Transport {
 public:
  explicit RaftTransport(RaftTransportOptions options);
  // Close().
  ~RaftTransport() override;
  RaftTransport(const RaftTransport&) = delete;
  RaftTransport& operator=(const RaftTransport&) = delete;

  // Queues `message` for message.to; never blocks.
  void Send(const raft::Message& message) override;
  // Serves an inbound Raft connection (what the mux hands its Raft handler)
  // on a reader thread until it closes or is refused.
  void Accept(std::unique_ptr<Stream> stream);
  // Stops every sender and reader and closes all connections; queued messages
  // are dropped. Later Send()/Accept() calls are ignored. Idempotent.
  void Close();

  RaftTransportStats GetStats() const;
  // The cluster id frames are sent with and checked against (0: not known yet).
  uint64_t ClusterId() const { return cluster_id_.load(); }

 private:
  class Peer;
  struct Inbound;
  void Serve(Inbound* inbound);
  void ReapInbound() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adopts `seen` when no cluster id is known yet; returns the id in force.
  uint64_t AdoptClusterId(uint64_t seen);

  const RaftTransportOptions options_;
  std::atomic<uint64_t> cluster_id_;

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  std::list<std::unique_ptr<Inbound>> inbound_ ABSL_GUARDED_BY(mu_);

  struct Counters {
    std::atomic<uint64_t> sent{0}, dropped_queue_full{0}, dropped_unresolved{0}, dropped_broken{0},
        dial_failures{0}, received{0}, misaddressed{0}, wrong_cluster{0}, garbage{0},
        inbound_accepted{0};
  };
  Counters counters_;
};

}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_RAFT_TRANSPORT_H_
