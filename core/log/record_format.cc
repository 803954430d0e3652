#include "core/log/record_format.h"

#include "core/log/crc32c.h"

namespace proglog::log::internal {

uint32_t FrameCrc(uint32_t body_length, std::string_view body) {
  char len[4];
  PutFixed32(len, body_length);
  return Crc32cExtend(Crc32c(std::string_view(len, 4)), body);
}

void EncodeRecord(const Record& record, uint64_t offset, std::string& out) {
  const size_t start = out.size();
  const uint32_t body_length = static_cast<uint32_t>(kBodyHeaderBytes + record.value.size());
  out.resize(start + kRecordOverhead);
  char* p = out.data() + start;
  PutFixed32(p, body_length);
  PutFixed64(p + 8, offset);
  PutFixed64(p + 16, record.term);
  PutFixed32(p + 24, record.type);
  out.append(record.value);
  const std::string_view body(out.data() + start + kFrameHeaderBytes, body_length);
  PutFixed32(out.data() + start + 4, FrameCrc(body_length, body));
}

FrameHeader DecodeFrameHeader(std::string_view bytes) {
  return FrameHeader{GetFixed32(bytes.data()), GetFixed32(bytes.data() + 4)};
}

Record DecodeBody(std::string_view body) {
  Record record;
  record.offset = GetFixed64(body.data());
  record.term = GetFixed64(body.data() + 8);
  record.type = GetFixed32(body.data() + 16);
  record.value.assign(body.substr(kBodyHeaderBytes));
  return record;
}

}  // namespace proglog::log::internal
