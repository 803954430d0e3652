// Fuzz target: Serf messages (intents, push/pull state, events, queries,
// responses, relays) and tag metadata.
#include "core/discovery/messages.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzz::DecodeSerf(in);
  if (auto tags = DecodeTags(in); tags.ok() && !in.empty() && in[0] == '\xff') {
    auto back = DecodeTags(EncodeTags(*tags));
    fuzz::Check(back.ok() && *back == *tags);
  }
  return 0;
}
