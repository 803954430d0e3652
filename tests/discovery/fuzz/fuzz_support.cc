#include "tests/discovery/fuzz/fuzz_support.h"

#include <cstdlib>

#include "core/discovery/messages.h"
#include "core/discovery/packet.h"

namespace proglog::discovery::fuzz {

const std::string& SeedKey() {
  static const std::string key(32, '\x5a');
  return key;
}

std::vector<std::string> Seeds() {
  const std::string ip("\x7f\x00\x00\x01", 4);
  const std::string meta = EncodeTags({{"rpc_addr", "127.0.0.1:8400"}});
  std::vector<std::string> s;
  s.push_back(EncodePing(Ping{1, "a", ip, 7947, "b"}));
  s.push_back(EncodeIndirectPing(IndirectPing{15, ip, 7948, "c", true, ip, 7946, "a"}));
  s.push_back(EncodeAck(Ack{3, "\x01\x80"}));
  s.push_back(EncodeNack(Nack{4}));
  s.push_back(EncodeSuspect(Suspect{1, "c", "a"}));
  s.push_back(EncodeAlive(Alive{2, "b", ip, 7947, meta, OurVsn()}));
  s.push_back(EncodeDead(Dead{1, "b", "b"}));
  s.push_back(EncodeJoinIntent(JoinIntent{2, "c"}));
  s.push_back(EncodeLeaveIntent(LeaveIntent{3, "b", false}));
  s.push_back(EncodeQueryResponse(QueryResponse{1, 77, "a", 1, ""}));
  std::string serf_state = EncodeSerfPushPull(SerfPushPull{5, {{"a", 1}, {"b", 4}}, {"b"}, 2, 3});
  s.push_back(serf_state);
  s.push_back(std::string("\x08", 1) + serf_state);
  s.push_back(MakeCompound({s[0], s[4], s[7]}));
  s.push_back(WrapCrc(MakeCompound({s[5], s[6]})));
  s.push_back(WrapCompress(s[5]));
  s.push_back(WrapCrc(WrapCompress(MakeCompound({s[1], s[8]}))));
  PushPull pp;
  pp.join = true;
  pp.nodes.push_back(PushNodeState{"a", ip, 7946, meta, 1, NodeState::kAlive, OurVsn()});
  pp.nodes.push_back(PushNodeState{"b", ip, 7947, meta, 3, NodeState::kLeft, OurVsn()});
  pp.user_state = serf_state;
  std::string stream = EncodePushPull(pp);
  s.push_back(stream);
  Keyring none = *Keyring::Create({});
  Keyring keyed = *Keyring::Create({SeedKey()});
  s.push_back(*EncodeStreamMessage(stream, none, true));
  s.push_back(*EncodeStreamMessage(stream, keyed, true));
  s.push_back(*EncodeStreamMessage(s[0], keyed, false));
  s.push_back(*keyed.Encrypt(WrapCrc(s[5]), ""));
  // A user event and a query as the serf agent sends them.
  static constexpr char kUserEvent[] =
      "\x08\x03\x84\xa2"
      "CC\xc3\xa5LTime\x01\xa4Name\xa6"
      "deploy\xa7Payload\xa5hello";
  s.push_back(std::string(kUserEvent, sizeof(kUserEvent) - 1));
  s.push_back(LzwCompress("TOBEORNOTTOBEORTOBEORNOT"));
  s.push_back(
      std::string("\x81\xa4"
                  "Join\xc3",
                  7));
  return s;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

namespace {

template <typename T, typename Dec, typename Enc>
void RoundTrip(std::string_view body, Dec decode, Enc encode, size_t prefix) {
  absl::StatusOr<T> m = decode(body);
  if (!m.ok()) return;
  std::string again = encode(*m);
  absl::StatusOr<T> back = decode(std::string_view(again).substr(prefix));
  Check(back.ok());
  Check(encode(*back) == again);
}

}  // namespace

void DecodeLeaf(std::string_view msg) {
  if (msg.empty()) return;
  std::string_view body = msg.substr(1);
  switch (static_cast<MsgType>(msg[0])) {
    case MsgType::kPing:
      RoundTrip<Ping>(body, DecodePing, EncodePing, 1);
      break;
    case MsgType::kIndirectPing:
      RoundTrip<IndirectPing>(body, DecodeIndirectPing, EncodeIndirectPing, 1);
      break;
    case MsgType::kAck:
      RoundTrip<Ack>(body, DecodeAck, EncodeAck, 1);
      break;
    case MsgType::kNack:
      RoundTrip<Nack>(body, DecodeNack, EncodeNack, 1);
      break;
    case MsgType::kSuspect:
      RoundTrip<Suspect>(body, DecodeSuspect, EncodeSuspect, 1);
      break;
    case MsgType::kAlive: {
      RoundTrip<Alive>(body, DecodeAlive, EncodeAlive, 1);
      if (auto a = DecodeAlive(body); a.ok()) DecodeTags(a->meta).IgnoreError();
      break;
    }
    case MsgType::kDead:
      RoundTrip<Dead>(body, DecodeDead, EncodeDead, 1);
      break;
    case MsgType::kUser:
      DecodeSerf(body);
      break;
    default:
      break;
  }
}

void DecodeSerf(std::string_view msg) {
  if (msg.empty()) return;
  std::string_view body = msg.substr(1);
  switch (static_cast<SerfType>(msg[0])) {
    case SerfType::kJoin:
      RoundTrip<JoinIntent>(body, DecodeJoinIntent, EncodeJoinIntent, 2);
      break;
    case SerfType::kLeave:
      RoundTrip<LeaveIntent>(body, DecodeLeaveIntent, EncodeLeaveIntent, 2);
      break;
    case SerfType::kPushPull:
      RoundTrip<SerfPushPull>(body, DecodeSerfPushPull, EncodeSerfPushPull, 1);
      break;
    case SerfType::kUserEvent:
      DecodeUserEvent(body).IgnoreError();
      break;
    case SerfType::kQuery:
      DecodeQuery(body).IgnoreError();
      break;
    case SerfType::kQueryResponse:
      RoundTrip<QueryResponse>(body, DecodeQueryResponse, EncodeQueryResponse, 2);
      break;
    case SerfType::kRelay:
      if (auto r = DecodeRelay(body); r.ok()) DecodeSerf(r->inner);
      break;
    default:
      break;
  }
}

}  // namespace proglog::discovery::fuzz
