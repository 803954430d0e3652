// Fuzz target: what a Raft connection sends first and then keeps sending: the
// mux byte, then frames (magic, cluster id, length, body) split into messages
// by FrameDecoder. The input is cut into arrival chunks at positions the input
// itself chooses, so every split of the header is tried. Any bytes must decode
// or fail with a status; after a failure the decoder stays failed; nothing
// past the declared length is consumed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/mux/raft_codec.h"
#include "proto/log/v1/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using proglog::mux::FrameDecoder;
  if (size < 2) return 0;
  // First byte: the chunk size (1..256) of arrivals; second: the mux byte.
  const size_t chunk = static_cast<size_t>(data[0]) + 1;
  if (data[1] != proglog::wire::kRaftConnectionByte) return 0;  // gRPC: not ours to parse
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  FrameDecoder decoder(/*cluster_id=*/7, /*max_body_bytes=*/1 << 16);
  bool failed = false;
  while (!stream.empty()) {
    const size_t take = std::min(chunk, stream.size());
    decoder.Feed(stream.substr(0, take));
    stream.remove_prefix(take);
    while (true) {
      auto next = decoder.Next();
      if (!next.ok()) {
        failed = true;
        break;
      }
      if (failed) std::abort();  // an error must stick
      if (!next->has_value()) break;
    }
    if (failed) {
      if (decoder.Next().ok()) std::abort();
      return 0;
    }
  }
  return 0;
}
