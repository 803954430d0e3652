// Fuzz target: the compound splitter; complete parts must re-pack into the
// same bytes.
#include "core/discovery/packet.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool truncated = false;
  auto parts = SplitCompound(in, &truncated);
  if (!parts.ok()) return 0;
  std::vector<std::string> copies(parts->begin(), parts->end());
  std::string packed = MakeCompound(copies);
  bool again_truncated = true;
  auto again = SplitCompound(std::string_view(packed).substr(1), &again_truncated);
  fuzz::Check(again.ok() && !again_truncated && again->size() == copies.size());
  for (size_t i = 0; i < copies.size(); ++i) fuzz::Check((*again)[i] == copies[i]);
  return 0;
}
