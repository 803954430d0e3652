#include "core/client/picker.h"

#include <algorithm>
#include <utility>

namespace proglog::client {
namespace {

// How long an unreachable server is passed over. Long enough not to pay a
// failed connection on every call while gossip has not yet noticed a dead
// node; short enough that a restarted node soon takes its share again.
constexpr absl::Duration kFailedCooloff = absl::Seconds(3);

}  // namespace

Picker::Picker(std::vector<std::string> bootstrap, BalancePolicy policy)
    : bootstrap_(std::move(bootstrap)), policy_(policy) {}

void Picker::Update(const std::vector<Server>& servers, absl::Time now) {
  if (policy_ == BalancePolicy::kPinned) return;
  absl::MutexLock lock(&mu_);
  refreshed_at_ = now;
  if (std::none_of(servers.begin(), servers.end(),
                   [](const Server& server) { return !server.rpc_addr.empty(); })) {
    invalid_ = false;  // nobody answered: keep what we know until the next due refresh
    return;
  }
  // A server that does not know its own address (a test double, a node not
  // configured to advertise) cannot be dialed: it is left out.
  servers_.clear();
  for (const Server& server : servers) {
    if (!server.rpc_addr.empty()) servers_.push_back(server);
  }
  leader_.reset();
  for (const Server& server : servers_) {
    if (server.is_leader) leader_ = server.rpc_addr;
  }
  // Without a leader the cluster is electing one: look again soon.
  invalid_ = !leader_.has_value();
}

bool Picker::LeaderIs(const std::string& address) {
  if (policy_ == BalancePolicy::kPinned) return false;
  absl::MutexLock lock(&mu_);
  invalid_ = true;
  // Followers name the old leader until they elect a new one: a leader that
  // just failed us is not believed.
  if (HasFailedLocked(address)) return false;
  leader_ = address;
  return true;
}

void Picker::Failed(const std::string& address) {
  absl::MutexLock lock(&mu_);
  failed_[address] = absl::Now() + kFailedCooloff;
  if (leader_ == address) leader_.reset();
  invalid_ = true;
}

void Picker::Invalidate() {
  absl::MutexLock lock(&mu_);
  invalid_ = true;
}

bool Picker::NeedsRefresh(absl::Time now, absl::Duration interval) const {
  if (policy_ == BalancePolicy::kPinned) return false;
  absl::MutexLock lock(&mu_);
  if (invalid_ || !refreshed_at_) return true;
  return interval > absl::ZeroDuration() && now - *refreshed_at_ >= interval;
}

std::vector<std::string> Picker::CandidatesLocked() const {
  std::vector<std::string> all;
  for (const Server& server : servers_) all.push_back(server.rpc_addr);
  for (const std::string& address : bootstrap_) {
    if (std::find(all.begin(), all.end(), address) == all.end()) all.push_back(address);
  }
  return all;
}

// The next entry of `from` at or after `cursor` that has not failed (any entry
// if all have), advancing the cursor past it.
std::string Picker::NextOf(const std::vector<std::string>& from, size_t& cursor) const {
  for (size_t tried = 0; tried < from.size(); ++tried) {
    const std::string& address = from[cursor++ % from.size()];
    if (!HasFailedLocked(address)) return address;
  }
  return from[cursor++ % from.size()];
}

bool Picker::HasFailedLocked(const std::string& address) const {
  auto it = failed_.find(address);
  return it != failed_.end() && absl::Now() < it->second;
}

std::string Picker::ForWrite() {
  absl::MutexLock lock(&mu_);
  if (policy_ == BalancePolicy::kPinned) {
    size_t first = 0;  // always the first reachable, in the order given
    return NextOf(bootstrap_, first);
  }
  if (leader_ && !HasFailedLocked(*leader_)) return *leader_;
  return NextOf(CandidatesLocked(), write_cursor_);
}

std::string Picker::ForRead() {
  std::vector<std::string> followers;
  {
    absl::MutexLock lock(&mu_);
    if (policy_ == BalancePolicy::kFollowerReads) {
      for (const Server& server : servers_) {
        if (!server.is_leader && !HasFailedLocked(server.rpc_addr)) {
          followers.push_back(server.rpc_addr);
        }
      }
      if (!followers.empty()) return NextOf(followers, read_cursor_);
    }
  }
  return ForWrite();
}

std::optional<std::string> Picker::Leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

std::vector<std::string> Picker::RefreshOrder() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> order;
  if (leader_) order.push_back(*leader_);
  for (const std::string& address : CandidatesLocked()) {
    if (std::find(order.begin(), order.end(), address) == order.end()) order.push_back(address);
  }
  // Servers that just failed go last; they may be back, but try others first.
  std::stable_partition(order.begin(), order.end(),
                        [this](const std::string& a)
                            ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !HasFailedLocked(a); });
  return order;
}

}  // namespace proglog::client
