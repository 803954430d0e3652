// Fuzz target: TCP stream messages (push/pull with node states and Serf
// state, ping, ack, user, err), plain and encrypted with the seed key.
#include "core/discovery/packet.h"
#include "tests/discovery/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proglog::discovery;
  static const Keyring kNone = *Keyring::Create({});
  static const Keyring kKeyed = *Keyring::Create({fuzz::SeedKey()});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const Keyring* ring : {&kNone, &kKeyed}) {
    StreamMessage msg;
    std::string error;
    if (DecodeStreamMessage(in, *ring, &msg, &error) != DecodeResult::kOk) continue;
    if (msg.type != MsgType::kPushPull) continue;
    // What decoded must survive our own encoding unchanged.
    std::string again = EncodePushPull(msg.push_pull);
    StreamMessage back;
    fuzz::Check(DecodeStreamMessage(again, kNone, &back, &error) == DecodeResult::kOk);
    fuzz::Check(EncodePushPull(back.push_pull) == again);
    if (!msg.push_pull.user_state.empty()) fuzz::DecodeSerf(msg.push_pull.user_state);
  }
  return 0;
}
