#include "core/client/status.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/client/client.h"

namespace proglog::client {
namespace {

// Payload attached to an Unavailable status that came with a leader redirect.
constexpr char kNotLeaderPayload[] = "type.proglog.dev/not-leader";
// Payload of a failed ProduceBatch: the offsets it appended, comma-separated.
constexpr char kWrittenOffsetsPayload[] = "type.proglog.dev/written-offsets";
// Payload of a failed produce that may have appended anyway.
constexpr char kOutcomeUnknownPayload[] = "type.proglog.dev/outcome-unknown";

// How servers and gRPC word a refusal that appended nothing: the first is in
// every not-leader answer of core/server, the second its admission refusal
// while stopping; the rest are gRPC's for a connection that was never made.
constexpr const char* kNotAppliedMessages[] = {
    "not the leader",
    "server is shutting down",
    "failed to connect",
    "Connection refused",
    "connections to all backends failing",
    "DNS resolution failed",
};

}  // namespace

absl::Status FromGrpc(const grpc::Status& status, const ChannelSecurity& channel) {
  if (status.ok()) return absl::OkStatus();
  // gRPC's own message-size limits (either side's) say "... larger than max";
  // name them as what they are, not as an exhausted resource such as a disk.
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      !absl::StartsWith(status.error_message(), kTooLarge) &&
      absl::StrContains(status.error_message(), "larger than max")) {
    return absl::ResourceExhaustedError(absl::StrCat(kTooLarge, ": ", status.error_message()));
  }
  return ClassifyRpcFailure(status, channel);
}

absl::Status TooLarge(size_t index, size_t size, uint64_t max) {
  return absl::ResourceExhaustedError(absl::StrCat(kTooLarge, ": value ", index, " is ", size,
                                                   " bytes; the maximum record size is ", max,
                                                   " bytes; nothing was sent"));
}

bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) ||
         (absl::IsUnauthenticated(status) && absl::StrContains(status.message(), "Socket closed"));
}

bool CertainlyNotApplied(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  for (const char* message : kNotAppliedMessages) {
    if (absl::StrContains(status.error_message(), message)) return true;
  }
  return false;
}

void MarkNotLeader(absl::Status& status, const std::string& leader) {
  status.SetPayload(kNotLeaderPayload, absl::Cord(leader));
}

void MarkOutcomeUnknown(absl::Status& status) {
  absl::Status marked(status.code(),
                      absl::StrCat(status.message(),
                                   " (the outcome is unknown: the record may have been appended)"));
  status.ForEachPayload([&marked](absl::string_view url, const absl::Cord& payload) {
    marked.SetPayload(url, payload);
  });
  marked.SetPayload(kOutcomeUnknownPayload, absl::Cord("1"));
  status = std::move(marked);
}

void MarkWrittenOffsets(absl::Status& status, const std::vector<uint64_t>& offsets) {
  status.SetPayload(kWrittenOffsetsPayload, absl::Cord(absl::StrJoin(offsets, ",")));
}

bool IsMessageTooLarge(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && absl::StartsWith(status.message(), kTooLarge);
}

bool IsOutcomeUnknown(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kOutcomeUnknownPayload).has_value();
}

std::vector<uint64_t> WrittenOffsets(const absl::Status& status) {
  std::vector<uint64_t> offsets;
  auto payload = status.GetPayload(kWrittenOffsetsPayload);
  if (!payload) return offsets;
  for (absl::string_view part : absl::StrSplit(std::string(*payload), ',', absl::SkipEmpty())) {
    uint64_t offset = 0;
    if (absl::SimpleAtoi(part, &offset)) offsets.push_back(offset);
  }
  return offsets;
}

std::optional<std::string> NotLeaderAddress(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return std::nullopt;
  auto payload = status.GetPayload(kNotLeaderPayload);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace proglog::client
