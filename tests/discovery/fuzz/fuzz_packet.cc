// Fuzz target: a whole decrypted UDP datagram (CRC header, compression,
// compound nesting) and every leaf message in it.
#include "core/discovery/packet.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  UnwrappedPacket p = UnwrapPacket(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const std::string& msg : p.messages) fuzz::DecodeLeaf(msg);
  return 0;
}
