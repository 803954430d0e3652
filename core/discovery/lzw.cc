// LZW as Go's compress/lzw writes it with LSB bit order and 8-bit literals:
// clear = 256, end = 257, codes 258..4095, code width 9..12 bits.
#include <array>
#include <cstdint>
#include <unordered_map>

#include "core/discovery/packet.h"

namespace proglog::discovery {
namespace {

constexpr uint32_t kClear = 256;
constexpr uint32_t kEnd = 257;
constexpr uint32_t kMaxCode = 4095;
constexpr int kMaxWidth = 12;

class BitReader {
 public:
  explicit BitReader(std::string_view in) : in_(in) {}
  bool Read(int width, uint32_t* code) {
    while (nbits_ < width) {
      if (pos_ >= in_.size()) return false;
      bits_ |= static_cast<uint32_t>(static_cast<uint8_t>(in_[pos_++])) << nbits_;
      nbits_ += 8;
    }
    *code = bits_ & ((1u << width) - 1);
    bits_ >>= width;
    nbits_ -= width;
    return true;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  uint32_t bits_ = 0;
  int nbits_ = 0;
};

class BitWriter {
 public:
  void Write(uint32_t code, int width) {
    bits_ |= code << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<char>(bits_ & 0xff));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }
  Bytes Finish() {
    if (nbits_ > 0) out_.push_back(static_cast<char>(bits_ & 0xff));
    return std::move(out_);
  }

 private:
  Bytes out_;
  uint32_t bits_ = 0;
  int nbits_ = 0;
};

// The decoder's dictionary: each code is its prefix code plus one byte.
struct Dictionary {
  std::array<uint16_t, kMaxCode + 1> prefix{};
  std::array<uint8_t, kMaxCode + 1> suffix{};
  std::array<uint8_t, kMaxCode + 1> first{};

  uint8_t First(uint32_t code) const { return code < 256 ? code : first[code]; }
  // Appends the string of `code` to *out.
  void Emit(uint32_t code, Bytes* out) const {
    char tmp[kMaxCode + 2];
    int n = 0;
    while (code >= 258) {
      tmp[n++] = static_cast<char>(suffix[code]);
      code = prefix[code];
    }
    tmp[n++] = static_cast<char>(code);
    while (n > 0) out->push_back(tmp[--n]);
  }
};

}  // namespace

absl::StatusOr<Bytes> LzwDecompress(std::string_view data, size_t max_out) {
  auto dict = std::make_unique<Dictionary>();
  BitReader reader(data);
  Bytes out;
  int width = 9;
  uint32_t next = kEnd;
  int64_t prev = -1;
  for (;;) {
    uint32_t code = 0;
    if (!reader.Read(width, &code)) return absl::InvalidArgumentError("lzw: unexpected end");
    if (code == kClear) {
      width = 9, next = kEnd, prev = -1;
      continue;
    }
    if (code == kEnd) break;
    uint8_t x = 0;
    if (code < 256) {
      out.push_back(static_cast<char>(code));
      x = code;
    } else if (code >= 258 && code < next) {
      dict->Emit(code, &out);
      x = dict->First(code);
    } else if (code == next && prev >= 0) {
      dict->Emit(prev, &out);
      x = dict->First(prev);
      out.push_back(static_cast<char>(x));
    } else {
      return absl::InvalidArgumentError("lzw: invalid code");
    }
    if (out.size() > max_out) return absl::InvalidArgumentError("lzw: output too large");
    if (prev >= 0) {
      dict->prefix[next] = static_cast<uint16_t>(prev);
      dict->suffix[next] = x;
      dict->first[next] = dict->First(prev);
    }
    prev = code;
    ++next;
    if (next >= (1u << width)) {
      if (width < kMaxWidth) {
        ++width;
      } else {
        --next;
        prev = -1;
      }
    }
  }
  return out;
}

Bytes LzwCompress(std::string_view data) {
  BitWriter writer;
  int width = 9;
  uint32_t last = kEnd;
  std::unordered_map<uint32_t, uint32_t> table;
  writer.Write(kClear, width);
  // Advances the next code; returns false when the table was reset.
  auto bump = [&]() {
    ++last;
    if (last == (1u << width)) ++width;
    if (last == kMaxCode) {
      writer.Write(kClear, width);
      width = 9, last = kEnd;
      table.clear();
      return false;
    }
    return true;
  };
  if (!data.empty()) {
    uint32_t w = static_cast<uint8_t>(data[0]);
    for (size_t i = 1; i < data.size(); ++i) {
      uint32_t c = static_cast<uint8_t>(data[i]);
      uint32_t key = (w << 8) | c;
      if (auto it = table.find(key); it != table.end()) {
        w = it->second;
        continue;
      }
      writer.Write(w, width);
      if (bump()) table[key] = last;
      w = c;
    }
    writer.Write(w, width);
    bump();
  }
  writer.Write(kEnd, width);
  return writer.Finish();
}

}  // namespace proglog::discovery
