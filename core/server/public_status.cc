#include "core/server/public_status.h"

#include <string>
#include <string_view>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/server/grpc_log.h"
#include "spdlog/spdlog.h"

namespace proglog::server {
namespace {

bool EndsPath(char c) { return c == ' ' || c == ':' || c == ',' || c == ')' || c == '\''; }

// Replaces every token that starts with '/' after a space or at the start
// (an absolute path) with "<file>".
std::string HidePaths(std::string_view message) {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    const bool at_token_start = i == 0 || message[i - 1] == ' ' || message[i - 1] == '(';
    if (message[i] == '/' && at_token_start) {
      size_t end = i;
      while (end < message.size() && !EndsPath(message[end])) ++end;
      out += "<file>";
      i = end;
      continue;
    }
    out += message[i++];
  }
  return out;
}

void LogHidden(const absl::Status& original) {
  static auto* limiter = new GrpcLogLimiter();
  uint64_t dropped = 0;
  if (!limiter->Admit(&dropped)) return;
  spdlog::warn(
      "storage error returned to a client without its paths: {} (similar ones dropped: {})",
      original.ToString(), dropped);
}

}  // namespace

absl::Status WithoutServerPaths(const absl::Status& status) {
  if (status.ok()) return status;
  const std::string_view message(status.message().data(), status.message().size());
  std::string hidden = HidePaths(message);
  const bool disk_full =
      absl::IsResourceExhausted(status) && !absl::StartsWith(status.message(), "message too large");
  if (hidden == message && !disk_full) return status;
  if (disk_full) {
    hidden =
        absl::StrCat("the server's disk is full; the request was not carried out (", hidden, ")");
  }
  absl::Status out(status.code(), hidden);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  if (hidden.find("<file>") != std::string::npos) LogHidden(status);
  return out;
}

}  // namespace proglog::server
