#include "core/server/commit_log.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"

namespace proglog::server {

absl::Status CommitLog::Append(NewRecord record, AppendDone done) {
  std::vector<NewRecord> records;
  records.push_back(std::move(record));
  return AppendBatch(std::move(records), std::move(done));
}

void CommitLog::ConfirmEnd(absl::AnyInvocable<void(absl::Status)> done) { done(absl::OkStatus()); }

absl::Status NotLeaderError(std::string_view leader_rpc_address) {
  if (leader_rpc_address.empty()) {
    return absl::UnavailableError("this node is not the leader and no leader is known");
  }
  // Debian's abseil has its own string_view type.
  const absl::string_view leader(leader_rpc_address.data(), leader_rpc_address.size());
  absl::Status status =
      absl::UnavailableError(absl::StrCat("this node is not the leader; the leader is ", leader));
  status.SetPayload(kLeaderPayloadTypeUrl, absl::Cord(leader));
  return status;
}

absl::Status LeadershipLostError(std::string_view leader_rpc_address) {
  const absl::string_view leader(leader_rpc_address.data(), leader_rpc_address.size());
  absl::Status status = absl::UnavailableError(
      absl::StrCat("leadership moved before the write committed; it may still commit",
                   leader.empty() ? std::string() : absl::StrCat("; the leader is ", leader)));
  if (!leader.empty()) status.SetPayload(kLeaderPayloadTypeUrl, absl::Cord(leader));
  return status;
}

std::optional<std::string> LeaderAddressOf(const absl::Status& status) {
  if (!absl::IsUnavailable(status)) return std::nullopt;
  absl::optional<absl::Cord> leader = status.GetPayload(kLeaderPayloadTypeUrl);
  if (!leader.has_value() || leader->empty()) return std::nullopt;
  return std::string(*leader);
}

}  // namespace proglog::server
