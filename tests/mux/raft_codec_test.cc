// The Raft wire codec: every field of every message type survives a round
// trip, frames split anywhere reassemble, and garbage, truncation, oversized
// frames and frames for another cluster are refused without a crash.
#include "core/mux/raft_codec.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace proglog::mux {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::Message;
using raft::MessageType;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// Every field set to a distinct, non-default value, including the extremes.
Message FullMessage(MessageType type) {
  Message m;
  m.type = type;
  m.from = 1;
  m.to = kMax;
  m.term = 3;
  m.log_term = 4;
  m.index = 1ull << 40;
  m.entries = {Entry{5, 6, EntryType::kNormal, "hello"}, Entry{7, 8, EntryType::kNoop, ""},
               Entry{kMax, kMax - 1, EntryType::kConfChange, std::string(300, '\0')}};
  m.commit = 9;
  m.reject = true;
  m.reject_hint = 10;
  m.hint_term = 11;
  m.context = 12;
  m.force = true;
  m.snapshot.index = 13;
  m.snapshot.term = 14;
  m.snapshot.conf.voters = {1, 2, kMax};
  m.snapshot.conf.learners = {4, 127, 128};
  m.snapshot.conf.index = 15;
  m.chunk_offset = 16;
  m.chunk = std::string("\x01\x00\xff", 3);
  m.last_chunk = true;
  return m;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_hint, b.reject_hint);
  EXPECT_EQ(a.hint_term, b.hint_term);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.force, b.force);
  EXPECT_EQ(a.snapshot, b.snapshot);
  EXPECT_EQ(a.chunk_offset, b.chunk_offset);
  EXPECT_EQ(a.chunk, b.chunk);
  EXPECT_EQ(a.last_chunk, b.last_chunk);
}

TEST(RaftCodec, EveryFieldOfEveryTypeRoundTrips) {
  for (int t = 0; t <= static_cast<int>(raft::kLastMessageType); ++t) {
    SCOPED_TRACE(t);
    Message m = FullMessage(static_cast<MessageType>(t));
    absl::StatusOr<Message> back = DecodeMessage(EncodeMessage(m));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(m, *back);
  }
}

TEST(RaftCodec, DefaultMessageRoundTrips) {
  Message m;
  absl::StatusOr<Message> back = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(m, *back);
}

TEST(RaftCodec, FlagsAreIndependent) {
  for (int bits = 0; bits < 8; ++bits) {
    Message m;
    m.reject = bits & 1;
    m.force = bits & 2;
    m.last_chunk = bits & 4;
    absl::StatusOr<Message> back = DecodeMessage(EncodeMessage(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->reject, m.reject);
    EXPECT_EQ(back->force, m.force);
    EXPECT_EQ(back->last_chunk, m.last_chunk);
  }
}

TEST(RaftCodec, EveryTruncationIsRefused) {
  std::string body = EncodeMessage(FullMessage(MessageType::kAppend));
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeMessage(body.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeMessage(body + "x").ok()) << "trailing byte";
}

TEST(RaftCodec, UnknownTypeVersionAndFlagsAreRefused) {
  std::string body = EncodeMessage(Message{});
  std::string bad_version = body;
  bad_version[0] = 2;
  EXPECT_FALSE(DecodeMessage(bad_version).ok());
  std::string bad_type = body;
  bad_type[1] = static_cast<char>(static_cast<int>(raft::kLastMessageType) + 1);
  EXPECT_FALSE(DecodeMessage(bad_type).ok());
  std::string bad_flags = body;
  bad_flags[2] = 8;
  EXPECT_FALSE(DecodeMessage(bad_flags).ok());
}

TEST(RaftCodec, HugeCountsAreRefusedWithoutAllocating) {
  // version, type, flags, nine zero varints, then an entry count of 2^63.
  std::string body("\x01\x04\x00", 3);
  body.append(9, '\0');
  body.append("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10);
  EXPECT_FALSE(DecodeMessage(body).ok());
}

TEST(FrameDecoder, ReassemblesFramesSplitAtEveryByte) {
  std::string stream;
  Message a = FullMessage(MessageType::kAppend);
  Message b = FullMessage(MessageType::kVoteResponse);
  AppendFrame(42, a, &stream);
  AppendFrame(42, b, &stream);
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder(42);
    std::vector<Message> got;
    for (std::string_view part :
         {std::string_view(stream).substr(0, split), std::string_view(stream).substr(split)}) {
      decoder.Feed(part);
      for (;;) {
        auto next = decoder.Next();
        ASSERT_TRUE(next.ok()) << next.status();
        if (!next->has_value()) break;
        got.push_back(**next);
      }
    }
    ASSERT_EQ(got.size(), 2u) << split;
    ExpectSame(got[0], a);
    ExpectSame(got[1], b);
    EXPECT_EQ(decoder.Buffered(), 0u);
  }
}

TEST(FrameDecoder, FrameForAnotherClusterIsRefused) {
  std::string stream;
  AppendFrame(1, Message{}, &stream);
  FrameDecoder decoder(2);
  decoder.Feed(stream);
  auto next = decoder.Next();
  EXPECT_TRUE(absl::IsFailedPrecondition(next.status())) << next.status();
  EXPECT_TRUE(absl::IsFailedPrecondition(decoder.Next().status())) << "errors stick";
}

TEST(FrameDecoder, BadMagicAndOversizedFramesAreRefused) {
  FrameDecoder garbage(0);
  garbage.Feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(absl::IsInvalidArgument(garbage.Next().status()));

  std::string stream;
  AppendFrame(0, FullMessage(MessageType::kAppend), &stream);
  FrameDecoder small(0, 16);
  small.Feed(stream);
  EXPECT_TRUE(absl::IsInvalidArgument(small.Next().status()));
}

TEST(FrameDecoder, CorruptBodyIsRefused) {
  std::string stream;
  AppendFrame(0, Message{}, &stream);
  stream[kRaftFrameHeaderBytes] = 9;  // body version
  FrameDecoder decoder(0);
  decoder.Feed(stream);
  EXPECT_TRUE(absl::IsInvalidArgument(decoder.Next().status()));
}

// The fuzz entry point over seeded mutations of real frames and bodies
// (a regression run; the libFuzzer build explores further).
TEST(RaftCodecFuzz, MutatedInputsNeverCrash) {
  std::vector<std::string> seeds;
  for (int t = 0; t <= static_cast<int>(raft::kLastMessageType); ++t) {
    seeds.push_back(EncodeMessage(FullMessage(static_cast<MessageType>(t))));
    std::string frame;
    AppendFrame(7, FullMessage(static_cast<MessageType>(t)), &frame);
    seeds.push_back(frame);
  }
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 50000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s[pos] ^= static_cast<char>(1 << (rng() % 8));
          break;
        case 1:
          s[pos] = static_cast<char>(rng());
          break;
        case 2:
          s.resize(pos);
          break;
        default:
          s.insert(pos, std::string(1 + rng() % 8, static_cast<char>(rng())));
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

}  // namespace
}  // namespace proglog::mux
