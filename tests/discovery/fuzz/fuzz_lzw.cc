// Fuzz target: the LZW decoder and the compression wrapper; also checks that
// compressing any input and decompressing it gives the input back.
#include "core/discovery/packet.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  LzwDecompress(in, 1 << 20).IgnoreError();
  UnwrapCompress(in).IgnoreError();
  auto back = LzwDecompress(LzwCompress(in));
  fuzz::Check(back.ok() && *back == in);
  return 0;
}
