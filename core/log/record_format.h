// The byte layout of one record in a store file, all integers little-endian:
//
//   u32 body_length | u32 crc32c | body
//   body = u64 offset | u64 term | u32 type | value bytes
//
// The CRC32C covers the four length bytes and the body, so a damaged length is
// caught as well as damaged data. The offset is stored so recovery can check
// that a segment's records are dense and belong to it. `term` and `type` are the
// owner's (log.h Record): as the Raft log, the entry's term and kind (with the
// producer's type inside a typed entry's value, core/raft/types.h); as a single
// node's log, 0 and the producer's type. Pure functions; thread-safe.
#ifndef PROGLOG_CORE_LOG_RECORD_FORMAT_H_
#define PROGLOG_CORE_LOG_RECORD_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/log/log.h"

namespace proglog::log::internal {

inline constexpr size_t kFrameHeaderBytes = 8;  // length + crc
inline constexpr size_t kBodyHeaderBytes = 20;  // offset + term + type
inline constexpr size_t kRecordOverhead = kFrameHeaderBytes + kBodyHeaderBytes;

inline size_t EncodedSize(const Record& record) { return kRecordOverhead + record.value.size(); }

// Appends the framed record to `out`, stamped with `offset`.
void EncodeRecord(const Record& record, uint64_t offset, std::string& out);

struct FrameHeader {
  uint32_t body_length = 0;
  uint32_t crc = 0;
};
// `bytes` must hold at least kFrameHeaderBytes.
FrameHeader DecodeFrameHeader(std::string_view bytes);

// CRC of a frame from its length and body.
uint32_t FrameCrc(uint32_t body_length, std::string_view body);

// Decodes a body whose CRC was already checked; `body` must hold at least
// kBodyHeaderBytes. The value is the rest of the body.
Record DecodeBody(std::string_view body);

inline void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_RECORD_FORMAT_H_
