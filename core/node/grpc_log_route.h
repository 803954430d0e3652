// core/node/grpc_log_route: gRPC's log events, with the peer the port mux
// knows. gRPC names no peer when it refuses a TLS handshake; it closes the
// connection right after, and the mux's handshake watcher sees which client that was
// (core/mux/closing_peer.h). The node composes the two, so the routes of
// gRPC's lines (the `proglog` binary's and the C library's) call this rather
// than core/server knowing about the mux.
//
// Thread-safety: thread-safe.
#ifndef PROGLOG_CORE_NODE_GRPC_LOG_ROUTE_H_
#define PROGLOG_CORE_NODE_GRPC_LOG_ROUTE_H_

#include "absl/functional/any_invocable.h"
#include "core/server/grpc_log.h"

namespace proglog::node {

// Hands `event` to `emit`: at once, or for a failed handshake once its peer is
// known or the wait is over (at most core/mux's kClosingPeerWindow, never
// blocking the caller), with the field "peer" after "reason" when found.
using GrpcLogEmitter = absl::AnyInvocable<void(server::GrpcLogEvent event) &&>;
void EmitGrpcLogEvent(server::GrpcLogEvent event, GrpcLogEmitter emit);

}  // namespace proglog::node

#endif  // PROGLOG_CORE_NODE_GRPC_LOG_ROUTE_H_
