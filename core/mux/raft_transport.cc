#include "core/mux/raft_transport.h"

#include <pthread.h>

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>

#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace proglog::mux {

// One peer's outbound side: a bounded queue and the sender thread that owns
// the connection, dials it and redials it with backoff.
class RaftTransport::Peer {
 public:
  Peer(RaftTransport* transport, uint64_t id) : transport_(transport), id_(id) {
    thread_ = std::thread([this] { Run(); });
  }

  // False when the queue is full.
  bool Enqueue(const raft::Message& message) {
    absl::MutexLock lock(&mu_);
    if (queue_.size() >= transport_->options_.max_queued_messages) return false;
    if (WriteNow(message)) return true;
    queue_.push_back(message);
    cv_.Signal();
    return true;
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (active_ != nullptr) active_->Shutdown();
      cv_.SignalAll();
    }
    thread_.join();
  }

 private:
  // The caller's thread (the Raft driver) writes `message` itself when the
  // connection is up, plaintext and idle (nothing queued or being written): a
  // send that does not block, instead of waking the sender thread, a hand-off
  // that every commit pays twice (the leader's append, the follower's answer).
  // What the socket does not take at once is left to the sender thread, ahead
  // of anything queued later. False: queue it as usual.
  bool WriteNow(const raft::Message& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (active_ == nullptr || active_->IsTls() || writing_ || broken_ || !queue_.empty() ||
        !unsent_.empty()) {
      return false;
    }
    std::string frame;
    AppendFrame(transport_->ClusterId(), message, &frame);
    absl::StatusOr<size_t> wrote = active_->TryWrite(frame);
    Counters& counters = transport_->counters_;
    if (!wrote.ok()) {
      // Lost with the connection, as on the sender thread; it redials.
      counters.dropped_broken.fetch_add(1);
      spdlog::debug("raft transport: connection to peer {} broke: {}", id_,
                    wrote.status().ToString());
      broken_ = true;
      cv_.Signal();
      return true;
    }
    counters.sent.fetch_add(1);
    if (*wrote < frame.size()) {
      unsent_ = frame.substr(*wrote);
      cv_.Signal();
    }
    return true;
  }

  void Run() {
    BlockSigpipeInThisThread();
    pthread_setname_np(pthread_self(), "raft-send");
    const RaftTransportOptions& opts = transport_->options_;
    Counters& counters = transport_->counters_;
    std::unique_ptr<Stream> stream;
    std::chrono::milliseconds backoff = opts.min_backoff;
    std::string frames;
    for (;;) {
      bool broken;
      {
        absl::MutexLock lock(&mu_);
        while (queue_.empty() && unsent_.empty() && !broken_ && !stopping_) cv_.Wait(&mu_);
        if (stopping_) break;
        broken = broken_;
        if (broken) Disconnect();
      }
      if (broken) {
        stream.reset();
        continue;
      }
      if (stream == nullptr) {
        std::optional<std::string> address = opts.resolve(id_);
        if (!address.has_value()) {
          absl::MutexLock lock(&mu_);
          counters.dropped_unresolved.fetch_add(queue_.size());
          queue_.clear();
          continue;
        }
        absl::StatusOr<std::unique_ptr<Stream>> dialed =
            DialRaft(*address, opts.dial_tls, opts.io_timeout);
        if (!dialed.ok()) {
          counters.dial_failures.fetch_add(1);
          spdlog::debug("raft transport: dial peer {} at {}: {}", id_, *address,
                        dialed.status().ToString());
          absl::MutexLock lock(&mu_);
          const absl::Time until = absl::Now() + absl::FromChrono(backoff);
          while (!stopping_ && !cv_.WaitWithDeadline(&mu_, until)) {
          }
          backoff = std::min(backoff * 2, opts.max_backoff);
          continue;
        }
        stream = *std::move(dialed);
        backoff = opts.min_backoff;
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        active_ = stream.get();
      }
      std::deque<raft::Message> batch;
      {
        absl::MutexLock lock(&mu_);
        batch.swap(queue_);
        frames.swap(unsent_);  // the rest of a frame WriteNow began goes first
        unsent_.clear();
        writing_ = true;
      }
      const uint64_t cluster_id = transport_->ClusterId();
      for (const raft::Message& m : batch) AppendFrame(cluster_id, m, &frames);
      absl::Status written = stream->Write(frames);
      frames.clear();
      {
        absl::MutexLock lock(&mu_);
        writing_ = false;
        if (!written.ok()) Disconnect();
      }
      if (written.ok()) {
        counters.sent.fetch_add(batch.size());
        continue;
      }
      counters.dropped_broken.fetch_add(batch.size());
      spdlog::debug("raft transport: connection to peer {} broke: {}", id_, written.ToString());
      stream.reset();
    }
    absl::MutexLock lock(&mu_);
    active_ = nullptr;
  }

  // The connection is given up: the next message dials a new one, which must
  // not start with the rest of a frame begun on the old one.
  void Disconnect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    active_ = nullptr;
    broken_ = false;
    unsent_.clear();
  }

  RaftTransport* const transport_;
  const uint64_t id_;
  std::thread thread_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<raft::Message> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The sender thread's connection, so Stop() can break a blocked write and
  // WriteNow() can write to it; null while there is none.
  Stream* active_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The sender thread is writing to active_ outside the lock.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // WriteNow() found active_ broken: the sender thread closes it.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // The tail of a frame WriteNow() could write only in part.
  std::string unsent_ ABSL_GUARDED_BY(mu_);
};

struct RaftTransport::Inbound {
  std::unique_ptr<Stream> stream;
  std::thread thread;
  std::atomic<bool> done{false};
};

RaftTransport::RaftTransport(RaftTransportOptions options)
    : options_(std::move(options)), cluster_id_(options_.cluster_id) {}

RaftTransport::~RaftTransport() { Close(); }

void RaftTransport::Send(const raft::Message& message) {
  if (message.to == raft::kNoNode) return;
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  std::unique_ptr<Peer>& peer = peers_[message.to];
  if (peer == nullptr) peer = std::make_unique<Peer>(this, message.to);
  if (!peer->Enqueue(message)) counters_.dropped_queue_full.fetch_add(1);
}

void RaftTransport::Accept(std::unique_ptr<Stream> stream) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;  // the stream closes its socket
  ReapInbound();
  counters_.inbound_accepted.fetch_add(1);
  auto inbound = std::make_unique<Inbound>();
  inbound->stream = std::move(stream);
  Inbound* raw = inbound.get();
  inbound_.push_back(std::move(inbound));
  raw->thread = std::thread([this, raw] { Serve(raw); });
}

void RaftTransport::ReapInbound() {
  for (auto it = inbound_.begin(); it != inbound_.end();) {
    if ((*it)->done.load()) {
      (*it)->thread.join();
      it = inbound_.erase(it);
    } else {
      ++it;
    }
  }
}

void RaftTransport::Serve(Inbound* inbound) {
  BlockSigpipeInThisThread();
  pthread_setname_np(pthread_self(), "raft-recv");
  Stream& stream = *inbound->stream;
  const std::string peer = stream.PeerName().empty() ? "plaintext peer" : stream.PeerName();
  uint64_t expected_cluster = cluster_id_.load();
  FrameDecoder decoder(expected_cluster, options_.max_frame_bytes);
  // What one read takes is what the receiver handles together (`delivered`):
  // room for the appends a leader sends while a follower's fsync runs.
  std::string buffer(size_t{256} << 10, '\0');
  bool open = true;
  while (open) {
    absl::StatusOr<size_t> n = stream.Read(buffer.data(), buffer.size());
    if (!n.ok() || *n == 0) break;
    decoder.Feed(std::string_view(buffer.data(), *n));
    bool delivered = false;
    for (;;) {
      absl::StatusOr<std::optional<raft::Message>> next = decoder.Next();
      if (!next.ok()) {
        if (absl::IsFailedPrecondition(next.status())) {
          counters_.wrong_cluster.fetch_add(1);
        } else {
          counters_.garbage.fetch_add(1);
        }
        spdlog::warn("raft transport: closing connection from {}: {}", peer,
                     next.status().ToString());
        open = false;
        break;
      }
      if (!next->has_value()) break;
      if (expected_cluster == kAnyCluster && decoder.FrameClusterId() != kAnyCluster) {
        expected_cluster = AdoptClusterId(decoder.FrameClusterId());
        if (expected_cluster != decoder.FrameClusterId()) {
          counters_.wrong_cluster.fetch_add(1);
          spdlog::warn(
              "raft transport: closing connection from {}: frame for cluster {}, this is "
              "cluster {}",
              peer, decoder.FrameClusterId(), expected_cluster);
          open = false;
          break;
        }
        decoder.ExpectCluster(expected_cluster);
      }
      raft::Message& message = **next;
      if (message.to != options_.node_id) {
        counters_.misaddressed.fetch_add(1);
        continue;
      }
      counters_.received.fetch_add(1);
      options_.deliver(std::move(message));
      delivered = true;
    }
    if (delivered && options_.delivered) options_.delivered();
  }
  stream.Shutdown();
  inbound->done = true;
}

uint64_t RaftTransport::AdoptClusterId(uint64_t seen) {
  uint64_t known = kAnyCluster;
  if (!cluster_id_.compare_exchange_strong(known, seen)) return known;
  spdlog::info("raft transport: joined cluster {}", seen);
  if (options_.on_cluster_id) options_.on_cluster_id(seen);
  return seen;
}

void RaftTransport::Close() {
  std::map<uint64_t, std::unique_ptr<Peer>> peers;
  std::list<std::unique_ptr<Inbound>> inbound;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    peers.swap(peers_);
    inbound.swap(inbound_);
    for (auto& in : inbound) in->stream->Shutdown();
  }
  for (auto& [id, peer] : peers) peer->Stop();
  for (auto& in : inbound) in->thread.join();
}

RaftTransportStats RaftTransport::GetStats() const {
  RaftTransportStats s;
  s.sent = counters_.sent.load();
  s.dropped_queue_full = counters_.dropped_queue_full.load();
  s.dropped_unresolved = counters_.dropped_unresolved.load();
  s.dropped_broken = counters_.dropped_broken.load();
  s.dial_failures = counters_.dial_failures.load();
  s.received = counters_.received.load();
  s.misaddressed = counters_.misaddressed.load();
  s.wrong_cluster = counters_.wrong_cluster.load();
  s.garbage = counters_.garbage.load();
  s.inbound_accepted = counters_.inbound_accepted.load();
  return s;
}

}  // namespace proglog::mux
