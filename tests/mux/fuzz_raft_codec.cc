// Fuzz target: the Raft frame decoder and message decoder. Any input must be
// refused or decoded without a crash, and whatever decodes must re-encode to a
// message that decodes to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/mux/raft_codec.h"

namespace {

bool SameMessage(const proglog::raft::Message& a, const proglog::raft::Message& b) {
  return a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
         a.log_term == b.log_term && a.index == b.index && a.entries == b.entries &&
         a.commit == b.commit && a.reject == b.reject && a.reject_hint == b.reject_hint &&
         a.hint_term == b.hint_term && a.context == b.context && a.force == b.force &&
         a.snapshot == b.snapshot && a.chunk_offset == b.chunk_offset && a.chunk == b.chunk &&
         a.last_chunk == b.last_chunk;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::mux;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto message = DecodeMessage(in);
  if (message.ok()) {
    auto again = DecodeMessage(EncodeMessage(*message));
    if (!again.ok() || !SameMessage(*message, *again)) std::abort();
  }
  // The same bytes as a stream, fed in two pieces, with a small frame limit.
  FrameDecoder decoder(7, 1 << 16);
  decoder.Feed(in.substr(0, size / 2));
  for (int round = 0; round < 2; ++round) {
    for (;;) {
      auto next = decoder.Next();
      if (!next.ok() || !next->has_value()) break;
    }
    decoder.Feed(in.substr(size / 2));
  }
  return 0;
}
