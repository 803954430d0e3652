#include "core/discovery/packet.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

#include "absl/strings/escaping.h"

namespace proglog::discovery {
namespace {

constexpr int kMaxNesting = 4;  // compress-in-compound-in-compress ...
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr uint8_t kEncryptionVersion = 1;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t ReadU32(std::string_view s) {
  return (uint32_t{static_cast<uint8_t>(s[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[2])} << 8) | uint32_t{static_cast<uint8_t>(s[3])};
}
void PutU32(Bytes* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void Unwrap(std::string_view msg, int depth, UnwrappedPacket* out) {
  if (msg.empty() || depth > kMaxNesting) {
    ++out->errors;
    return;
  }
  auto type = static_cast<MsgType>(msg[0]);
  if (type == MsgType::kCompound) {
    bool truncated = false;
    auto parts = SplitCompound(msg.substr(1), &truncated);
    if (!parts.ok()) {
      ++out->errors;
      return;
    }
    if (truncated) ++out->errors;
    for (std::string_view part : *parts) Unwrap(part, depth + 1, out);
  } else if (type == MsgType::kCompress) {
    auto inner = UnwrapCompress(msg.substr(1));
    if (!inner.ok()) {
      ++out->errors;
      return;
    }
    Unwrap(*inner, depth + 1, out);
  } else {
    out->messages.emplace_back(msg);
  }
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const EVP_CIPHER* CipherFor(size_t key_size) {
  switch (key_size) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    default:
      return EVP_aes_256_gcm();
  }
}

bool GcmOpen(const Bytes& key, std::string_view nonce, std::string_view ct, std::string_view tag,
             std::string_view aad, Bytes* plain) {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  plain->resize(ct.size() + 16);
  auto* out = reinterpret_cast<unsigned char*>(plain->data());
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), CipherFor(key.size()), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(nonce)) != 1) {
    return false;
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (EVP_DecryptUpdate(ctx.get(), out, &len, u(ct), static_cast<int>(ct.size())) != 1)
    return false;
  int total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                          const_cast<char*>(tag.data())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + total, &len) != 1) {
    return false;
  }
  plain->resize(total + len);
  return true;
}

}  // namespace

uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Bytes WrapCompress(std::string_view msg) {
  MsgpackWriter w;
  w.Append(Bytes(1, static_cast<char>(MsgType::kCompress)));
  w.Map(2).Raw("Algo").Uint(0).Raw("Buf").Raw(LzwCompress(msg));
  return w.Take();
}

absl::StatusOr<Bytes> UnwrapCompress(std::string_view body, size_t* consumed) {
  DecodedValue v;
  if (DecodeValue(body.data(), body.size(), &v, 16, kMaxStreamBytes) != DecodeResult::kOk) {
    return absl::InvalidArgumentError("malformed compress wrapper");
  }
  MapReader r(v.Root());
  uint64_t algo = 0;
  Bytes buf;
  r.Uint("Algo", 255, &algo);
  r.String("Buf", &buf);
  if (!r.Ok() || v.Root().type != msgpack::type::MAP) {
    return absl::InvalidArgumentError("bad compress wrapper");
  }
  if (algo != 0) return absl::InvalidArgumentError("unknown compression algorithm");
  if (consumed != nullptr) *consumed = v.consumed;
  return LzwDecompress(buf);
}

Bytes WrapCrc(std::string_view payload) {
  Bytes out(1, static_cast<char>(MsgType::kHasCrc));
  PutU32(&out, Crc32(payload));
  out.append(payload);
  return out;
}

Bytes MakeCompound(const std::vector<Bytes>& parts) {
  Bytes out;
  out.push_back(static_cast<char>(MsgType::kCompound));
  out.push_back(static_cast<char>(parts.size()));
  for (const Bytes& p : parts) {
    out.push_back(static_cast<char>(p.size() >> 8));
    out.push_back(static_cast<char>(p.size() & 0xff));
  }
  for (const Bytes& p : parts) out.append(p);
  return out;
}

absl::StatusOr<std::vector<std::string_view>> SplitCompound(std::string_view body,
                                                            bool* truncated) {
  *truncated = false;
  if (body.empty()) return absl::InvalidArgumentError("compound without a count");
  size_t n = static_cast<uint8_t>(body[0]);
  body.remove_prefix(1);
  if (body.size() < 2 * n) return absl::InvalidArgumentError("compound length table truncated");
  std::vector<size_t> lens(n);
  for (size_t i = 0; i < n; ++i) {
    lens[i] =
        (size_t{static_cast<uint8_t>(body[2 * i])} << 8) | static_cast<uint8_t>(body[2 * i + 1]);
  }
  body.remove_prefix(2 * n);
  std::vector<std::string_view> parts;
  for (size_t len : lens) {
    if (len > body.size()) {
      *truncated = true;
      break;
    }
    parts.push_back(body.substr(0, len));
    body.remove_prefix(len);
  }
  return parts;
}

UnwrappedPacket UnwrapPacket(std::string_view datagram) {
  UnwrappedPacket out;
  if (datagram.size() >= 5 && static_cast<MsgType>(datagram[0]) == MsgType::kHasCrc) {
    if (ReadU32(datagram.substr(1, 4)) != Crc32(datagram.substr(5))) {
      ++out.errors;
      return out;
    }
    datagram.remove_prefix(5);
  }
  Unwrap(datagram, 0, &out);
  return out;
}

absl::StatusOr<Keyring> Keyring::Create(std::vector<Bytes> keys) {
  for (const Bytes& k : keys) {
    if (k.size() != 16 && k.size() != 24 && k.size() != 32) {
      return absl::InvalidArgumentError("gossip key must be 16, 24 or 32 bytes");
    }
  }
  Keyring ring;
  ring.keys_ = std::move(keys);
  return ring;
}

absl::StatusOr<Bytes> Keyring::DecodeKey(std::string_view base64) {
  std::string key;
  if (!absl::Base64Unescape(absl::string_view(base64.data(), base64.size()), &key)) {
    return absl::InvalidArgumentError("gossip key is not valid base64");
  }
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    return absl::InvalidArgumentError("gossip key must decode to 16, 24 or 32 bytes");
  }
  return key;
}

absl::StatusOr<Bytes> Keyring::Encrypt(std::string_view plaintext, std::string_view aad) const {
  if (keys_.empty()) return absl::FailedPreconditionError("no gossip key");
  const Bytes& key = keys_.front();
  Bytes out(1, static_cast<char>(kEncryptionVersion));
  out.resize(1 + kNonceSize);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + 1);
  if (RAND_bytes(nonce, kNonceSize) != 1) return absl::InternalError("no randomness for nonce");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), CipherFor(key.size()), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, k, nonce) != 1) {
    return absl::InternalError("AES-GCM init failed");
  }
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1) {
    return absl::InternalError("AES-GCM aad failed");
  }
  size_t head = out.size();
  out.resize(head + plaintext.size() + kTagSize);
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + head);
  if (EVP_EncryptUpdate(ctx.get(), ct, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          out.data() + head + plaintext.size()) != 1) {
    return absl::InternalError("AES-GCM encrypt failed");
  }
  return out;
}

absl::StatusOr<Bytes> Keyring::Decrypt(std::string_view blob, std::string_view aad) const {
  if (blob.size() < 1 + kNonceSize + kTagSize) {
    return absl::InvalidArgumentError("encrypted payload too short");
  }
  if (static_cast<uint8_t>(blob[0]) != kEncryptionVersion) {
    return absl::InvalidArgumentError("unsupported encryption version");
  }
  std::string_view nonce = blob.substr(1, kNonceSize);
  std::string_view ct = blob.substr(1 + kNonceSize, blob.size() - 1 - kNonceSize - kTagSize);
  std::string_view tag = blob.substr(blob.size() - kTagSize);
  Bytes plain;
  for (const Bytes& key : keys_) {
    if (GcmOpen(key, nonce, ct, tag, aad, &plain)) return plain;
  }
  return absl::PermissionDeniedError("no installed key decrypts the payload");
}

namespace {

// Decodes the plaintext stream message (after decryption). `complete` says the
// buffer is all there is, so running short is corruption, not "read more".
DecodeResult DecodePlainStream(std::string_view buf, bool complete, int depth, StreamMessage* out,
                               std::string* error);

DecodeResult Fail(std::string* error, std::string why) {
  *error = std::move(why);
  return DecodeResult::kCorrupt;
}

DecodeResult NeedMore(bool complete, std::string* error) {
  if (complete) return Fail(error, "stream message truncated");
  return DecodeResult::kNeedMore;
}

DecodeResult DecodePushPullStream(std::string_view buf, bool complete, PushPull* out,
                                  std::string* error) {
  DecodedValue header;
  DecodeResult r = DecodeValue(buf.data(), buf.size(), &header, 16);
  if (r == DecodeResult::kNeedMore) return NeedMore(complete, error);
  if (r != DecodeResult::kOk) return Fail(error, "malformed push/pull header");
  MapReader h(header.Root());
  uint64_t nodes = 0, user_len = 0;
  h.Bool("Join", &out->join);
  h.Uint("Nodes", 1 << 16, &nodes);
  h.Uint("UserStateLen", kMaxStreamBytes, &user_len);
  if (!h.Ok() || header.Root().type != msgpack::type::MAP) {
    return Fail(error, "bad push/pull header");
  }
  size_t pos = header.consumed;
  out->nodes.clear();
  for (uint64_t i = 0; i < nodes; ++i) {
    DecodedValue node;
    r = DecodeValue(buf.data() + pos, buf.size() - pos, &node, 16);
    if (r == DecodeResult::kNeedMore) return NeedMore(complete, error);
    if (r != DecodeResult::kOk || node.Root().type != msgpack::type::MAP) {
      return Fail(error, "malformed push/pull node state");
    }
    MapReader n(node.Root());
    PushNodeState s;
    uint64_t state = 0;
    n.String("Name", &s.name);
    n.String("Addr", &s.addr);
    n.Uint16("Port", &s.port);
    n.String("Meta", &s.meta);
    n.Uint32("Incarnation", &s.incarnation);
    n.Uint("State", 3, &state);
    n.String("Vsn", &s.vsn);
    if (!n.Ok()) return Fail(error, "bad push/pull node state");
    s.state = static_cast<NodeState>(state);
    out->nodes.push_back(std::move(s));
    pos += node.consumed;
  }
  if (buf.size() - pos < user_len) return NeedMore(complete, error);
  out->user_state = Bytes(buf.substr(pos, user_len));
  return DecodeResult::kOk;
}

DecodeResult DecodeSingleMap(std::string_view buf, bool complete, DecodedValue* v,
                             std::string* error) {
  DecodeResult r = DecodeValue(buf.data(), buf.size(), v, 64);
  if (r == DecodeResult::kNeedMore) return NeedMore(complete, error);
  if (r != DecodeResult::kOk || v->Root().type != msgpack::type::MAP) {
    return Fail(error, "malformed stream message body");
  }
  return DecodeResult::kOk;
}

DecodeResult DecodeSimpleStream(MsgType type, std::string_view buf, bool complete,
                                StreamMessage* out, std::string* error) {
  DecodedValue v;
  if (DecodeResult r = DecodeSingleMap(buf, complete, &v, error); r != DecodeResult::kOk) return r;
  std::string_view body = buf.substr(0, v.consumed);
  if (type == MsgType::kPing) {
    auto ping = DecodePing(body);
    if (!ping.ok()) return Fail(error, std::string(ping.status().message()));
    out->ping = *std::move(ping);
    return DecodeResult::kOk;
  }
  if (type == MsgType::kAck) {
    auto ack = DecodeAck(body);
    if (!ack.ok()) return Fail(error, std::string(ack.status().message()));
    out->ack = *std::move(ack);
    return DecodeResult::kOk;
  }
  MapReader r(v.Root());
  if (type == MsgType::kErr) {
    r.String("Error", &out->error);
    return r.Ok() ? DecodeResult::kOk : Fail(error, "bad err message");
  }
  uint64_t len = 0;  // kUser
  r.Uint("UserMsgLen", kMaxStreamBytes, &len);
  if (!r.Ok()) return Fail(error, "bad user message header");
  if (buf.size() - v.consumed < len) return NeedMore(complete, error);
  out->user = Bytes(buf.substr(v.consumed, len));
  return DecodeResult::kOk;
}

DecodeResult DecodePlainStream(std::string_view buf, bool complete, int depth, StreamMessage* out,
                               std::string* error) {
  if (buf.empty()) return NeedMore(complete, error);
  auto type = static_cast<MsgType>(buf[0]);
  std::string_view body = buf.substr(1);
  out->type = type;
  switch (type) {
    case MsgType::kCompress: {
      if (depth > 0) return Fail(error, "nested compression");
      DecodedValue v;
      DecodeResult r = DecodeValue(body.data(), body.size(), &v, 16, kMaxStreamBytes);
      if (r == DecodeResult::kNeedMore) return NeedMore(complete, error);
      auto inner = UnwrapCompress(body);
      if (!inner.ok()) return Fail(error, std::string(inner.status().message()));
      return DecodePlainStream(*inner, true, depth + 1, out, error);
    }
    case MsgType::kPushPull:
      return DecodePushPullStream(body, complete, &out->push_pull, error);
    case MsgType::kPing:
    case MsgType::kAck:
    case MsgType::kErr:
    case MsgType::kUser:
      return DecodeSimpleStream(type, body, complete, out, error);
    case MsgType::kEncrypt:
      return Fail(error, "encrypted stream message but no gossip key is configured");
    default:
      return Fail(error, "unexpected stream message type " + std::to_string(buf[0] & 0xff));
  }
}

}  // namespace

DecodeResult DecodeStreamMessage(std::string_view buf, const Keyring& keyring, StreamMessage* out,
                                 std::string* error) {
  if (keyring.Empty()) return DecodePlainStream(buf, false, 0, out, error);
  if (buf.empty()) return DecodeResult::kNeedMore;
  if (static_cast<MsgType>(buf[0]) != MsgType::kEncrypt) {
    return Fail(error, "plaintext stream message but encryption is required");
  }
  if (buf.size() < 5) return DecodeResult::kNeedMore;
  uint32_t len = ReadU32(buf.substr(1, 4));
  if (len > kMaxStreamBytes) return Fail(error, "encrypted stream message too large");
  if (buf.size() - 5 < len) return DecodeResult::kNeedMore;
  auto plain = keyring.Decrypt(buf.substr(5, len), buf.substr(0, 5));
  if (!plain.ok()) return Fail(error, std::string(plain.status().message()));
  return DecodePlainStream(*plain, true, 0, out, error);
}

absl::StatusOr<Bytes> EncodeStreamMessage(std::string_view msg, const Keyring& keyring,
                                          bool compress) {
  Bytes plain = compress ? WrapCompress(msg) : Bytes(msg);
  if (keyring.Empty()) return plain;
  Bytes header(1, static_cast<char>(MsgType::kEncrypt));
  PutU32(&header, static_cast<uint32_t>(plain.size() + 1 + kNonceSize + kTagSize));
  auto blob = keyring.Encrypt(plain, header);
  if (!blob.ok()) return blob.status();
  return header + *blob;
}

}  // namespace proglog::discovery
