// proto/log/v1/wire.h: the wire constants of proglog that are not in
// log.proto, in one place so the server, the client, the port mux and the
// bindings agree on them. Header-only, no dependencies.
#ifndef PROGLOG_PROTO_LOG_V1_WIRE_H_
#define PROGLOG_PROTO_LOG_V1_WIRE_H_

#include <cstdint>

namespace proglog::wire {

// Trailing-metadata key in which a follower names the leader's RPC address
// ("host:port") when it refuses a write with UNAVAILABLE.
inline constexpr char kLeaderMetadataKey[] = "proglog-leader";

// Initial-metadata key in which the server states its maximum record value
// size in bytes (decimal), on every log.v1.Log RPC, so clients can check values
// before sending them and size their receive limits.
inline constexpr char kMaxRecordBytesMetadataKey[] = "proglog-max-record-bytes";

// Initial-metadata key of a ConsumeStream: the offset the next record will get
// when the stream starts (decimal), sent at once, so a client that wants to read
// up to the end of the log (and not tail it) knows where to stop.
inline constexpr char kEndOffsetMetadataKey[] = "proglog-end-offset";

// First byte a node sends on a connection to another node's RPC port to say
// "this is a Raft connection". Any other first byte is gRPC (an HTTP/2
// preface starts with 'P', a TLS ClientHello with 0x16).
inline constexpr uint8_t kRaftConnectionByte = 0x01;

}  // namespace proglog::wire

#endif  // PROGLOG_PROTO_LOG_V1_WIRE_H_
