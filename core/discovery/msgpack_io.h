// Internal: msgpack encoding and decoding in the dialect Serf speaks
// (go-msgpack 0.5.5: strings and byte slices as old-spec raw, shortest ints).
// Decoding is bounded (sizes and depth) and never throws to the caller.
#ifndef PROGLOG_CORE_DISCOVERY_MSGPACK_IO_H_
#define PROGLOG_CORE_DISCOVERY_MSGPACK_IO_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace proglog::discovery {

using Bytes = std::string;  // byte containers; std::string keeps them cheap to copy

// Appends msgpack values to a byte string.
class MsgpackWriter {
 public:
  MsgpackWriter() : packer_(buffer_) {}
  MsgpackWriter& Map(uint32_t n);
  MsgpackWriter& Array(uint32_t n);
  MsgpackWriter& Raw(std::string_view bytes);  // a0..bf / da / db
  MsgpackWriter& Uint(uint64_t v);
  MsgpackWriter& Bool(bool v);
  MsgpackWriter& Nil();
  MsgpackWriter& Float(double v);
  // Appends already-encoded bytes (a nested value or a trailing blob).
  MsgpackWriter& Append(std::string_view bytes);
  Bytes Take() const { return Bytes(buffer_.data(), buffer_.size()); }
  size_t Size() const { return buffer_.size(); }

 private:
  msgpack::sbuffer buffer_;
  msgpack::packer<msgpack::sbuffer> packer_;
};

// Outcome of decoding one msgpack value from the front of a buffer.
enum class DecodeResult { kOk, kNeedMore, kCorrupt };

// One decoded msgpack value; owns the memory the object points into.
struct DecodedValue {
  msgpack::object_handle handle;
  size_t consumed = 0;
  const msgpack::object& Root() const { return handle.get(); }
};

// Decodes one value from data[0..size). Bounded: at most `max_items` array or map
// entries per container, strings up to `max_bytes`, nesting depth 16.
DecodeResult DecodeValue(const char* data, size_t size, DecodedValue* out, size_t max_items = 65536,
                         size_t max_bytes = 1 << 20);

// Typed read access to a msgpack map with string keys. Missing keys leave the
// output untouched (Go's zero value); a key of the wrong type makes the read
// fail, and every failure is remembered in ok().
class MapReader {
 public:
  explicit MapReader(const msgpack::object& obj);
  bool Ok() const { return ok_; }
  const msgpack::object* Find(std::string_view key) const;
  void Uint(std::string_view key, uint64_t max, uint64_t* out);
  void Uint32(std::string_view key, uint32_t* out);
  void Uint16(std::string_view key, uint16_t* out);
  void Int(std::string_view key, int64_t* out);
  void Bool(std::string_view key, bool* out);
  void String(std::string_view key, std::string* out);  // str/raw or bin
  void StringMapUint(std::string_view key, std::map<std::string, uint64_t>* out);
  void StringList(std::string_view key, std::vector<std::string>* out);

 private:
  const msgpack::object* map_ = nullptr;
  bool ok_ = true;
};

// Free-standing conversions with the same acceptance rules as MapReader.
bool ObjectToBytes(const msgpack::object& o, std::string* out);
bool ObjectToUint(const msgpack::object& o, uint64_t max, uint64_t* out);
bool ObjectToInt(const msgpack::object& o, int64_t* out);
bool ObjectToBool(const msgpack::object& o, bool* out);

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_MSGPACK_IO_H_
