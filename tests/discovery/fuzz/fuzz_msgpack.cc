// Fuzz target: the bounded msgpack reader and every typed accessor.
#include <limits>

#include "core/discovery/msgpack_io.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  DecodedValue v;
  DecodeResult r = DecodeValue(reinterpret_cast<const char*>(data), size, &v);
  if (r != DecodeResult::kOk) return 0;
  fuzz::Check(v.consumed > 0 && v.consumed <= size);
  MapReader m(v.Root());
  uint64_t u = 0;
  uint32_t u32 = 0;
  uint16_t u16 = 0;
  int64_t i = 0;
  bool b = false;
  std::string s;
  std::map<std::string, uint64_t> times;
  std::vector<std::string> list;
  for (const char* key : {"SeqNo", "Node", "Meta", "StatusLTimes", "LeftMembers", "Join"}) {
    m.Uint(key, std::numeric_limits<uint64_t>::max(), &u);
    m.Uint32(key, &u32);
    m.Uint16(key, &u16);
    m.Int(key, &i);
    m.Bool(key, &b);
    m.String(key, &s);
    m.StringMapUint(key, &times);
    m.StringList(key, &list);
  }
  return 0;
}
