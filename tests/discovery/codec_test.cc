// Codecs against bytes captured from the real serf agent (see the protocol
// write-up) and against themselves.
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "core/discovery/messages.h"
#include "core/discovery/packet.h"
#include "gtest/gtest.h"

namespace proglog::discovery {
namespace {

// Hex with optional "quoted ascii" runs, as the write-up prints captures.
std::string Bytes(const std::string& spec) {
  std::string out, hex;
  for (size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    if (c == '"') {
      size_t end = spec.find('"', i + 1);
      out += spec.substr(i + 1, end - i - 1);
      i = end;
    } else if (std::isxdigit(static_cast<unsigned char>(c))) {
      hex.push_back(c);
      if (hex.size() == 2) {
        out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
        hex.clear();
      }
    }
  }
  return out;
}

const std::string kLoopback = Bytes("7f000001");

TEST(CodecTest, AliveMatchesCapturedBytesIncludingCrc) {
  Alive a{1, "c", kLoopback, 7948, Bytes("ff80"), OurVsn()};
  std::string want = Bytes(
      "0c 8bd6e4d3 04 86 a4\"Addr\" a4 7f000001 ab\"Incarnation\" 01 a4\"Meta\" a2 ff80 "
      "a4\"Node\" a1\"c\" a4\"Port\" cd 1f0c a3\"Vsn\" a6 010502020505");
  EXPECT_EQ(WrapCrc(EncodeAlive(a)), want);
  EXPECT_EQ(want.size(), 64u);
}

TEST(CodecTest, SuspectDeadAndJoinIntentMatchCapturedBytes) {
  EXPECT_EQ(WrapCrc(EncodeSuspect(Suspect{1, "c", "a"})),
            Bytes("0c 55ff57b2 03 83 a4\"From\" a1\"a\" ab\"Incarnation\" 01 a4\"Node\" a1\"c\""));
  EXPECT_EQ(WrapCrc(EncodeDead(Dead{1, "b", "b"})),
            Bytes("0c c887355e 05 83 a4\"From\" a1\"b\" ab\"Incarnation\" 01 a4\"Node\" a1\"b\""));
  EXPECT_EQ(WrapCrc(EncodeJoinIntent(JoinIntent{2, "c"})),
            Bytes("0c ea12922f 08 01 82 a5\"LTime\" 02 a4\"Node\" a1\"c\""));
}

TEST(CodecTest, PingMatchesCapturedBytesAndDecodes) {
  Ping p{1, "a", kLoopback, 7947, "b"};
  std::string want = Bytes(
      "00 85 a4\"Node\" a1\"a\" a5\"SeqNo\" 01 aa\"SourceAddr\" a4 7f000001 "
      "aa\"SourceNode\" a1\"b\" aa\"SourcePort\" cd 1f0b");
  ASSERT_EQ(EncodePing(p), want);
  auto back = DecodePing(std::string_view(want).substr(1));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->seq_no, 1u);
  EXPECT_EQ(back->node, "a");
  EXPECT_EQ(back->source_addr, kLoopback);
  EXPECT_EQ(back->source_port, 7947);
  EXPECT_EQ(back->source_node, "b");
}

TEST(CodecTest, IndirectPingRoundTrips) {
  IndirectPing ip{15, kLoopback, 7948, "c", true, kLoopback, 7946, "a"};
  std::string want = Bytes(
      "01 88 a4\"Nack\" c3 a4\"Node\" a1\"c\" a4\"Port\" cd 1f0c a5\"SeqNo\" 0f "
      "aa\"SourceAddr\" a4 7f000001 aa\"SourceNode\" a1\"a\" aa\"SourcePort\" cd 1f0a "
      "a6\"Target\" a4 7f000001");
  EXPECT_EQ(EncodeIndirectPing(ip), want);
  auto back = DecodeIndirectPing(std::string_view(want).substr(1));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->nack);
  EXPECT_EQ(back->port, 7948);
}

TEST(CodecTest, LzwMatchesGoTestVectors) {
  EXPECT_EQ(LzwCompress(""), Bytes("000302"));
  EXPECT_EQ(LzwCompress("a"), Bytes("00c30404"));
  EXPECT_EQ(LzwCompress("aaaaaaaa"), Bytes("00c3081c283020"));
  EXPECT_EQ(LzwCompress("TOBEORNOTTOBEORTOBEORNOT"),
            Bytes("00a93c1152e48914274fa80824687061c183090302"));
  auto d = LzwDecompress(Bytes("00a93c1152e48914274fa80824687061c183090302"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "TOBEORNOTTOBEORTOBEORNOT");
}

TEST(CodecTest, LzwRoundTripsSeededRandomInputsAcrossTableResets) {
  std::mt19937 rng(42);
  for (int i = 0; i < 40; ++i) {
    std::string in(rng() % 20000, '\0');
    int alphabet = 1 + rng() % 255;  // low alphabets give long matches, high ones fill the table
    for (char& c : in) c = static_cast<char>(rng() % alphabet);
    auto out = LzwDecompress(LzwCompress(in));
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(*out, in) << "input " << i;
  }
}

TEST(CodecTest, CapturedCompressedTcpPingDecodesAndReencodesIdentically) {
  std::string wire = Bytes(
      "09 82 a4 41 6c 67 6f 00 a3 42 75 66 da 00 3b 00 01 14 22 e5 e4 0d 99 32 a2 e0 e4 29 35 a5 "
      "4c 9c 82 1d 54 4d 79 53 47 ce 98 32 41 c8 90 91 43 ea 0f 00 00 01 24 52 b4 58 a6 e0 c1 50 "
      "62 44 56 bc 08 e5 8d 1c 3a cd 3e 2c 08 08");
  ASSERT_EQ(wire.size(), 74u);
  auto inner = UnwrapCompress(std::string_view(wire).substr(1));
  ASSERT_TRUE(inner.ok()) << inner.status();
  ASSERT_EQ(inner->size(), 60u);
  EXPECT_EQ((*inner)[0], 0);  // a ping
  auto ping = DecodePing(std::string_view(*inner).substr(1));
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->source_node, "b");
  EXPECT_EQ(WrapCompress(*inner), wire);
}

TEST(CodecTest, CompoundSplitsAndReportsTruncation) {
  std::string a = EncodeNack(Nack{1}), b = EncodeNack(Nack{2});
  std::string c = MakeCompound({a, b});
  bool truncated = true;
  auto parts = SplitCompound(std::string_view(c).substr(1), &truncated);
  ASSERT_TRUE(parts.ok());
  EXPECT_FALSE(truncated);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[1], b);
  std::string cut = c.substr(0, c.size() - 2);
  parts = SplitCompound(std::string_view(cut).substr(1), &truncated);
  ASSERT_TRUE(parts.ok());
  EXPECT_TRUE(truncated);
  EXPECT_EQ(parts->size(), 1u);
}

TEST(CodecTest, UnwrapPacketHandlesCrcCompressionAndNesting) {
  std::string inner = MakeCompound({EncodeNack(Nack{7}), WrapCompress(EncodeNack(Nack{8}))});
  UnwrappedPacket p = UnwrapPacket(WrapCrc(WrapCompress(inner)));
  EXPECT_EQ(p.errors, 0);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[1], EncodeNack(Nack{8}));
  std::string bad = WrapCrc(inner);
  bad[2] ^= 1;
  p = UnwrapPacket(bad);
  EXPECT_EQ(p.errors, 1);
  EXPECT_TRUE(p.messages.empty());
}

TEST(CodecTest, TagsRoundTripAndLegacyRole) {
  std::map<std::string, std::string> tags{{"rpc_addr", "127.0.0.1:8400"}, {"dc", "x"}};
  auto back = DecodeTags(EncodeTags(tags));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, tags);
  EXPECT_EQ(EncodeTags({}), Bytes("ff80"));
  auto legacy = DecodeTags("web");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->at("role"), "web");
  EXPECT_FALSE(DecodeTags(Bytes("ff 81 a1")).ok());
}

TEST(CodecTest, SerfPushPullStateRoundTrips) {
  SerfPushPull s{7, {{"a", 3}, {"b", 5}}, {"b"}, 2, 4};
  std::string enc = EncodeSerfPushPull(s);
  ASSERT_EQ(enc[0], 2);
  auto back = DecodeSerfPushPull(std::string_view(enc).substr(1));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ltime, 7u);
  EXPECT_EQ(back->status_ltimes, s.status_ltimes);
  EXPECT_EQ(back->left_members, s.left_members);
  EXPECT_EQ(back->query_ltime, 4u);
}

TEST(CodecTest, DecodersRejectWrongFieldTypes) {
  // SeqNo as a string, Incarnation negative, Node as a map.
  EXPECT_FALSE(DecodePing(Bytes("81 a5\"SeqNo\" a1\"x\"")).ok());
  EXPECT_FALSE(DecodeSuspect(Bytes("81 ab\"Incarnation\" ff")).ok());
  EXPECT_FALSE(DecodeDead(Bytes("81 a4\"Node\" 80")).ok());
  EXPECT_FALSE(DecodeAlive(Bytes("a1\"x\"")).ok());
  EXPECT_FALSE(DecodeAck(Bytes("")).ok());
}

PushPull SamplePushPull() {
  PushPull pp;
  pp.join = true;
  pp.nodes.push_back(PushNodeState{"py", kLoopback, 7950, EncodeTags({{"role", "cpp"}}), 1,
                                   NodeState::kAlive, OurVsn()});
  pp.nodes.push_back(
      PushNodeState{"q", kLoopback, 7951, EncodeTags({}), 3, NodeState::kLeft, OurVsn()});
  pp.user_state = EncodeSerfPushPull(SerfPushPull{1, {{"py", 0}}, {}, 1, 1});
  return pp;
}

void ExpectStreamNeedsEveryByte(const std::string& wire, const Keyring& ring) {
  StreamMessage msg;
  std::string error;
  for (size_t n = 0; n < wire.size(); ++n) {
    ASSERT_EQ(DecodeStreamMessage(std::string_view(wire).substr(0, n), ring, &msg, &error),
              DecodeResult::kNeedMore)
        << "prefix " << n << ": " << error;
  }
  ASSERT_EQ(DecodeStreamMessage(wire, ring, &msg, &error), DecodeResult::kOk) << error;
  EXPECT_EQ(msg.type, MsgType::kPushPull);
  ASSERT_EQ(msg.push_pull.nodes.size(), 2u);
  EXPECT_EQ(msg.push_pull.nodes[1].state, NodeState::kLeft);
  EXPECT_TRUE(msg.push_pull.join);
}

TEST(CodecTest, PlainStreamPushPullNeedsEveryByteThenDecodes) {
  Keyring none = *Keyring::Create({});
  std::string plain = EncodePushPull(SamplePushPull());
  ExpectStreamNeedsEveryByte(plain, none);
  ExpectStreamNeedsEveryByte(*EncodeStreamMessage(plain, none, true), none);
}

TEST(CodecTest, EncryptedStreamNeedsTheKey) {
  Keyring ring = *Keyring::Create({std::string(32, 'k')});
  Keyring other = *Keyring::Create({std::string(16, 'o')});
  Keyring none = *Keyring::Create({});
  std::string wire = *EncodeStreamMessage(EncodePushPull(SamplePushPull()), ring, true);
  ASSERT_EQ(wire[0], static_cast<char>(MsgType::kEncrypt));
  ExpectStreamNeedsEveryByte(wire, ring);
  StreamMessage msg;
  std::string error;
  EXPECT_EQ(DecodeStreamMessage(wire, other, &msg, &error), DecodeResult::kCorrupt);
  EXPECT_EQ(DecodeStreamMessage(wire, none, &msg, &error), DecodeResult::kCorrupt);
  std::string plain = *EncodeStreamMessage(EncodePushPull(SamplePushPull()), none, true);
  EXPECT_EQ(DecodeStreamMessage(plain, ring, &msg, &error), DecodeResult::kCorrupt);
}

TEST(CodecTest, KeyringDecryptsWithAnyInstalledKeyAndRejectsTampering) {
  std::string k1(16, 'a'), k2(24, 'b');
  Keyring sender = *Keyring::Create({k2});
  Keyring receiver = *Keyring::Create({k1, k2});
  std::string blob = *sender.Encrypt("hello gossip", "");
  EXPECT_EQ(blob.size(), 12u + 29u);
  EXPECT_EQ(*receiver.Decrypt(blob, ""), "hello gossip");
  blob[20] ^= 0x40;
  EXPECT_FALSE(receiver.Decrypt(blob, "").ok());
  EXPECT_FALSE(Keyring::Create({std::string(10, 'x')}).ok());
  EXPECT_FALSE(Keyring::DecodeKey("not base64!").ok());
  auto key = Keyring::DecodeKey("5K9OtfOFP6Xk0jE6z5fDwkb/BYuZXh9F8SeOR9KgRXU=");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), 32u);
}

}  // namespace
}  // namespace proglog::discovery
