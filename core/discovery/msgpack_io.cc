#include "core/discovery/msgpack_io.h"

#include <exception>
#include <limits>

namespace proglog::discovery {

MsgpackWriter& MsgpackWriter::Map(uint32_t n) {
  packer_.pack_map(n);
  return *this;
}
MsgpackWriter& MsgpackWriter::Array(uint32_t n) {
  packer_.pack_array(n);
  return *this;
}
MsgpackWriter& MsgpackWriter::Raw(std::string_view bytes) {
  packer_.pack_v4raw(static_cast<uint32_t>(bytes.size()));
  packer_.pack_v4raw_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  return *this;
}
MsgpackWriter& MsgpackWriter::Uint(uint64_t v) {
  packer_.pack_uint64(v);
  return *this;
}
MsgpackWriter& MsgpackWriter::Bool(bool v) {
  if (v) {
    packer_.pack_true();
  } else {
    packer_.pack_false();
  }
  return *this;
}
MsgpackWriter& MsgpackWriter::Nil() {
  packer_.pack_nil();
  return *this;
}
MsgpackWriter& MsgpackWriter::Float(double v) {
  packer_.pack_double(v);
  return *this;
}
MsgpackWriter& MsgpackWriter::Append(std::string_view bytes) {
  buffer_.write(bytes.data(), bytes.size());
  return *this;
}

DecodeResult DecodeValue(const char* data, size_t size, DecodedValue* out, size_t max_items,
                         size_t max_bytes) {
  if (size == 0) return DecodeResult::kNeedMore;
  msgpack::unpack_limit limit(max_items, max_items, max_bytes, max_bytes, 0, 16);
  size_t off = 0;
  bool referenced = false;
  msgpack::object obj;
  auto zone = std::make_unique<msgpack::zone>();
  // msgpack-cxx reports limit violations and some malformed input by throwing;
  // nothing may escape this component, so every exception means "corrupt".
  try {
    msgpack::parse_return ret = msgpack::detail::unpack_imp(data, size, off, *zone, obj, referenced,
                                                            nullptr, nullptr, limit);
    if (ret == msgpack::PARSE_CONTINUE) return DecodeResult::kNeedMore;
    if (ret != msgpack::PARSE_SUCCESS && ret != msgpack::PARSE_EXTRA_BYTES) {
      return DecodeResult::kCorrupt;
    }
  } catch (const msgpack::insufficient_bytes&) {
    return DecodeResult::kNeedMore;
  } catch (const std::exception&) {
    return DecodeResult::kCorrupt;
  }
  out->handle = msgpack::object_handle(obj, std::move(zone));
  out->consumed = off;
  return DecodeResult::kOk;
}

bool ObjectToBytes(const msgpack::object& o, std::string* out) {
  switch (o.type) {
    case msgpack::type::STR:
      out->assign(o.via.str.ptr, o.via.str.size);
      return true;
    case msgpack::type::BIN:
      out->assign(o.via.bin.ptr, o.via.bin.size);
      return true;
    case msgpack::type::NIL:
      out->clear();
      return true;
    case msgpack::type::ARRAY: {  // go-msgpack also accepts []uint8 as an int array
      std::string bytes;
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        uint64_t b = 0;
        if (!ObjectToUint(o.via.array.ptr[i], 255, &b)) return false;
        bytes.push_back(static_cast<char>(b));
      }
      *out = std::move(bytes);
      return true;
    }
    default:
      return false;
  }
}

bool ObjectToUint(const msgpack::object& o, uint64_t max, uint64_t* out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > max) return false;
    *out = o.via.u64;
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return false;
  if (o.type == msgpack::type::NIL) {
    *out = 0;
    return true;
  }
  return false;
}

bool ObjectToInt(const msgpack::object& o, int64_t* out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(o.via.u64);
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    *out = o.via.i64;
    return true;
  }
  if (o.type == msgpack::type::NIL) {
    *out = 0;
    return true;
  }
  return false;
}

bool ObjectToBool(const msgpack::object& o, bool* out) {
  if (o.type == msgpack::type::BOOLEAN) {
    *out = o.via.boolean;
    return true;
  }
  uint64_t v = 0;
  if (ObjectToUint(o, 1, &v)) {
    *out = v != 0;
    return true;
  }
  return false;
}

MapReader::MapReader(const msgpack::object& obj) {
  if (obj.type == msgpack::type::MAP) {
    map_ = &obj;
  } else if (obj.type != msgpack::type::NIL) {
    ok_ = false;
  }
}

const msgpack::object* MapReader::Find(std::string_view key) const {
  if (map_ == nullptr) return nullptr;
  const msgpack::object_map& m = map_->via.map;
  for (uint32_t i = 0; i < m.size; ++i) {
    const msgpack::object& k = m.ptr[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      return &m.ptr[i].val;
    }
  }
  return nullptr;
}

void MapReader::Uint(std::string_view key, uint64_t max, uint64_t* out) {
  if (const msgpack::object* v = Find(key)) ok_ = ObjectToUint(*v, max, out) && ok_;
}
void MapReader::Uint32(std::string_view key, uint32_t* out) {
  uint64_t v = *out;
  Uint(key, std::numeric_limits<uint32_t>::max(), &v);
  *out = static_cast<uint32_t>(v);
}
void MapReader::Uint16(std::string_view key, uint16_t* out) {
  uint64_t v = *out;
  Uint(key, std::numeric_limits<uint16_t>::max(), &v);
  *out = static_cast<uint16_t>(v);
}
void MapReader::Int(std::string_view key, int64_t* out) {
  if (const msgpack::object* v = Find(key)) ok_ = ObjectToInt(*v, out) && ok_;
}
void MapReader::Bool(std::string_view key, bool* out) {
  if (const msgpack::object* v = Find(key)) ok_ = ObjectToBool(*v, out) && ok_;
}
void MapReader::String(std::string_view key, std::string* out) {
  if (const msgpack::object* v = Find(key)) ok_ = ObjectToBytes(*v, out) && ok_;
}

void MapReader::StringMapUint(std::string_view key, std::map<std::string, uint64_t>* out) {
  const msgpack::object* v = Find(key);
  if (v == nullptr || v->type == msgpack::type::NIL) return;
  if (v->type != msgpack::type::MAP) {
    ok_ = false;
    return;
  }
  for (uint32_t i = 0; i < v->via.map.size; ++i) {
    std::string name;
    uint64_t value = 0;
    if (!ObjectToBytes(v->via.map.ptr[i].key, &name) ||
        !ObjectToUint(v->via.map.ptr[i].val, std::numeric_limits<uint64_t>::max(), &value)) {
      ok_ = false;
      return;
    }
    (*out)[name] = value;
  }
}

void MapReader::StringList(std::string_view key, std::vector<std::string>* out) {
  const msgpack::object* v = Find(key);
  if (v == nullptr || v->type == msgpack::type::NIL) return;
  if (v->type != msgpack::type::ARRAY) {
    ok_ = false;
    return;
  }
  for (uint32_t i = 0; i < v->via.array.size; ++i) {
    std::string s;
    if (!ObjectToBytes(v->via.array.ptr[i], &s)) {
      ok_ = false;
      return;
    }
    out->push_back(std::move(s));
  }
}

}  // namespace proglog::discovery
