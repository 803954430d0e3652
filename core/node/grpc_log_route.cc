#include "core/node/grpc_log_route.h"

#include <string>
#include <utility>

#include "core/mux/closing_peer.h"

namespace proglog::node {

void EmitGrpcLogEvent(server::GrpcLogEvent event, GrpcLogEmitter emit) {
  if (!event.names_a_peer) {
    std::move(emit)(std::move(event));
    return;
  }
  mux::AwaitClosingPeer(
      [event = std::move(event), emit = std::move(emit)](std::string peer) mutable {
        if (!peer.empty()) event.fields.insert(event.fields.begin() + 1, {"peer", std::move(peer)});
        std::move(emit)(std::move(event));
      });
}

}  // namespace proglog::node
