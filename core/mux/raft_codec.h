// core/mux/raft_codec: the binary encoding of raft::Message on a Raft
// connection. A connection carries a stream of frames:
//
//   magic   4 bytes  "PLRM"
//   cluster 8 bytes  cluster id, little endian; a frame for another cluster is refused
//   length  4 bytes  body length, little endian, at most FrameLimits::max_body_bytes
//   body    `length` bytes: one Message (varints and length-prefixed bytes, see .cc)
//
// Decoding never trusts the input: every count and length is checked against
// the bytes that are actually there before anything is allocated, unknown enum
// values and flag bits are refused, and trailing bytes are an error. DecodeMessage
// and FrameDecoder are the fuzzing entry points.
//
// Thread-safety: the free functions are thread-safe; a FrameDecoder is not
// (one per connection).
#ifndef PROGLOG_CORE_MUX_RAFT_CODEC_H_
#define PROGLOG_CORE_MUX_RAFT_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/raft/types.h"

namespace proglog::mux {

inline constexpr char kRaftFrameMagic[4] = {'P', 'L', 'R', 'M'};
inline constexpr size_t kRaftFrameHeaderBytes = 16;
// Default: 64 MiB, above any append batch or snapshot chunk the driver sends.
inline constexpr uint32_t kDefaultMaxRaftFrameBody = 64u << 20;

// The body only (no frame header).
std::string EncodeMessage(const raft::Message& message);
// InvalidArgument on anything that EncodeMessage could not have produced.
absl::StatusOr<raft::Message> DecodeMessage(std::string_view body);

// Appends one whole frame for `message` to `out`.
void AppendFrame(uint64_t cluster_id, const raft::Message& message, std::string* out);

// Splits a byte stream into messages. Feed() what arrives, then call Next()
// until it returns nullopt (needs more bytes). After an error the stream is
// unusable (the connection must be closed): every later Next() returns it too.
//   InvalidArgument: bad magic, oversized length or an undecodable body.
//   FailedPrecondition: a well-formed frame for another cluster id.
// A decoder expecting cluster id kAnyCluster accepts every id (a node that has
// not learned its cluster yet); FrameClusterId() tells which the last had.
inline constexpr uint64_t kAnyCluster = 0;

class FrameDecoder {
 public:
  explicit FrameDecoder(uint64_t cluster_id, uint32_t max_body_bytes = kDefaultMaxRaftFrameBody)
      : cluster_id_(cluster_id), max_body_bytes_(max_body_bytes) {}

  // From now on, frames must carry `cluster_id`.
  void ExpectCluster(uint64_t cluster_id) { cluster_id_ = cluster_id; }
  // The cluster id of the last frame Next() returned.
  uint64_t FrameClusterId() const { return frame_cluster_id_; }

  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  absl::StatusOr<std::optional<raft::Message>> Next();
  // Bytes received but not yet consumed as whole frames.
  size_t Buffered() const { return buffer_.size() - consumed_; }

 private:
  uint64_t cluster_id_;
  uint64_t frame_cluster_id_ = 0;
  uint32_t max_body_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
  absl::Status error_;
};

}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_RAFT_CODEC_H_
