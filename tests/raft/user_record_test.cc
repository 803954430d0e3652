// How a user record and its producer's type are kept in a Raft entry
// (EncodeUserRecord / DecodeUserRecord), and that typed entries count as user
// records wherever entries are translated to offsets.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/raft/entry_record.h"
#include "core/raft/offset_translator.h"
#include "core/raft/types.h"
#include "gtest/gtest.h"

namespace proglog::raft {
namespace {

TEST(UserRecord, TypeZeroIsAPlainNormalEntryHoldingTheValueVerbatim) {
  auto [type, data] = EncodeUserRecord(UserRecord{"hello", 0});
  EXPECT_EQ(type, EntryType::kNormal);
  EXPECT_EQ(data, "hello");  // the layout of logs written before typed records
}

TEST(UserRecord, OtherTypesPutTheTypeLittleEndianBeforeTheValue) {
  auto [type, data] = EncodeUserRecord(UserRecord{"hi", 0x01020307});
  EXPECT_EQ(type, EntryType::kTypedRecord);
  EXPECT_EQ(data, std::string("\x07\x03\x02\x01hi", 6));
}

TEST(UserRecord, RoundTripsEveryKindOfTypeAndValue) {
  const std::vector<UserRecord> records = {
      {"value", 0},  {"value", 7},  {"", 0}, {"", 1}, {std::string(1000, '\0'), 0xffffffffu},
      {"\x07", 255}, {"abcd", 256},
  };
  for (const UserRecord& record : records) {
    auto [type, data] = EncodeUserRecord(record);
    absl::StatusOr<UserRecord> decoded = DecodeUserRecord(type, std::move(data));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, record) << "type " << record.type;
  }
}

TEST(UserRecord, DecodingAnEntryWithoutARecordIsInvalidArgument) {
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeUserRecord(EntryType::kNoop, "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeUserRecord(EntryType::kConfChange, "xxxx").status()));
}

TEST(UserRecord, ATypedEntryShorterThanItsTypeIsDataLoss) {
  EXPECT_TRUE(absl::IsDataLoss(DecodeUserRecord(EntryType::kTypedRecord, "abc").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeUserRecord(EntryType::kTypedRecord, "").status()));
}

TEST(UserRecord, OnlyNormalAndTypedEntriesHoldUserRecords) {
  EXPECT_TRUE(HoldsUserRecord(EntryType::kNormal));
  EXPECT_TRUE(HoldsUserRecord(EntryType::kTypedRecord));
  EXPECT_FALSE(HoldsUserRecord(EntryType::kNoop));
  EXPECT_FALSE(HoldsUserRecord(EntryType::kConfChange));
  EXPECT_TRUE(IsEntryType(3));
  EXPECT_FALSE(IsEntryType(4));
}

TEST(UserRecord, ATypedEntryIsStoredAsALogRecordAndReadBack) {
  auto [type, data] = EncodeUserRecord(UserRecord{"payload", 7});
  const Entry entry{12, 4, type, data};
  log::Record record = EntryToRecord(entry);
  EXPECT_EQ(record.type, static_cast<uint32_t>(EntryType::kTypedRecord));
  EXPECT_EQ(record.term, 4u);
  record.offset = OffsetOfIndex(12);
  absl::StatusOr<Entry> back = RecordToEntry(std::move(record));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, entry);
}

TEST(UserRecord, AStoredRecordOfAnUnknownKindIsDataLoss) {
  log::Record record;
  record.value = "x";
  record.type = 4;
  EXPECT_TRUE(absl::IsDataLoss(RecordToEntry(std::move(record)).status()));
}

TEST(OffsetTranslator, CountsTypedRecordsAsUserRecords) {
  OffsetTranslator t;
  // 1: no-op, 2: typed, 3: plain, 4: conf change, 5: typed
  const EntryType types[] = {EntryType::kNoop, EntryType::kTypedRecord, EntryType::kNormal,
                             EntryType::kConfChange, EntryType::kTypedRecord};
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(t.Append(i + 1, types[i]).ok());
  EXPECT_EQ(*t.OffsetOf(2), 0u);
  EXPECT_EQ(*t.OffsetOf(3), 1u);
  EXPECT_EQ(*t.OffsetOf(5), 2u);
  EXPECT_EQ(*t.IndexOf(2), 5u);
  EXPECT_EQ(t.NextOffset(), 3u);
  EXPECT_TRUE(absl::IsNotFound(t.OffsetOf(1).status()));
  EXPECT_TRUE(absl::IsNotFound(t.OffsetOf(4).status()));
}

}  // namespace
}  // namespace proglog::raft
