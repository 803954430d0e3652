// Internal: framing around messages — CRC header, compound messages, LZW
// compression wrapper, AES-GCM encryption (Serf's keyring), and the TCP stream
// message. Everything here is a pure function of its input, so each decoder can
// be fuzzed on its own; malformed input yields an error, never a crash.
#ifndef PROGLOG_CORE_DISCOVERY_PACKET_H_
#define PROGLOG_CORE_DISCOVERY_PACKET_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/discovery/messages.h"
#include "core/discovery/msgpack_io.h"

namespace proglog::discovery {

inline constexpr size_t kMaxDecompressed = 20 << 20;  // bound on any LZW output
inline constexpr size_t kMaxStreamBytes = 20 << 20;   // bound on one TCP message
inline constexpr size_t kUdpPacketBudget = 1400;      // memberlist's UDPBufferSize

// CRC-32/IEEE (zlib's crc32).
uint32_t Crc32(std::string_view data);

// Go compress/lzw, LSB order, 8-bit literals.
absl::StatusOr<Bytes> LzwDecompress(std::string_view data, size_t max_out = kMaxDecompressed);
Bytes LzwCompress(std::string_view data);

// 09 | {Algo: 0, Buf: lzw(msg)}
Bytes WrapCompress(std::string_view msg);
// Body after the 09 byte -> the decompressed message; *consumed tells how many
// body bytes the wrapper used (the stream form needs it).
absl::StatusOr<Bytes> UnwrapCompress(std::string_view body, size_t* consumed = nullptr);

// 0c | crc | payload
Bytes WrapCrc(std::string_view payload);

// 07 | n | lens | msgs. Parts must each be < 64 KiB and there are at most 255.
Bytes MakeCompound(const std::vector<Bytes>& parts);
// Body after the 07 byte -> the complete parts; *truncated is set when the
// buffer ended early (the complete leading parts are still returned).
absl::StatusOr<std::vector<std::string_view>> SplitCompound(std::string_view body, bool* truncated);

// A decrypted UDP datagram -> the leaf messages it carries (type byte + body),
// after CRC check, decompression and compound splitting (bounded nesting).
struct UnwrappedPacket {
  std::vector<Bytes> messages;
  int errors = 0;  // parts dropped: bad CRC, bad compression, truncated compound
};
UnwrappedPacket UnwrapPacket(std::string_view datagram);

// AES-GCM keyring: the first key encrypts, every key is tried to decrypt.
class Keyring {
 public:
  // Keys must be 16, 24 or 32 bytes.
  static absl::StatusOr<Keyring> Create(std::vector<Bytes> keys);
  // Base64 (as `serf keygen` prints) -> key bytes, validated.
  static absl::StatusOr<Bytes> DecodeKey(std::string_view base64);
  bool Empty() const { return keys_.empty(); }
  // vsn 1 | nonce | ciphertext | tag
  absl::StatusOr<Bytes> Encrypt(std::string_view plaintext, std::string_view aad) const;
  absl::StatusOr<Bytes> Decrypt(std::string_view blob, std::string_view aad) const;

 private:
  std::vector<Bytes> keys_;
};

// One message read from (or written to) a TCP stream.
struct StreamMessage {
  MsgType type = MsgType::kErr;
  PushPull push_pull;  // kPushPull
  Ping ping;           // kPing
  Ack ack;             // kAck
  Bytes user;          // kUser
  std::string error;   // kErr
};

// Decodes one stream message from the front of `buf`. kNeedMore: read more
// bytes; kCorrupt: *error says why. With a non-empty keyring only encrypted
// messages are accepted; without one only plaintext.
DecodeResult DecodeStreamMessage(std::string_view buf, const Keyring& keyring, StreamMessage* out,
                                 std::string* error);
// Wraps an encoded message for the stream: compression, then encryption if keyed.
absl::StatusOr<Bytes> EncodeStreamMessage(std::string_view msg, const Keyring& keyring,
                                          bool compress);

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_PACKET_H_
