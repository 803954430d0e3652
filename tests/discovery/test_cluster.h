// Test support for in-process clusters: fast timings, an event recorder, and
// nodes on free loopback ports.
#ifndef PROGLOG_TESTS_DISCOVERY_TEST_CLUSTER_H_
#define PROGLOG_TESTS_DISCOVERY_TEST_CLUSTER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/discovery/membership.h"

namespace proglog::discovery::testing {

// Timings about five times faster than LAN, for quick failure detection.
Timings FastTimings();

class EventLog {
 public:
  void Record(const MemberEvent& e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(e);
  }
  bool Has(EventType type, const std::string& name) const {
    absl::MutexLock lock(&mu_);
    for (const MemberEvent& e : events_) {
      if (e.type == type && e.member.name == name) return true;
    }
    return false;
  }
  int Count(EventType type) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const MemberEvent& e : events_) n += e.type == type ? 1 : 0;
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<MemberEvent> events_ ABSL_GUARDED_BY(mu_);
};

struct TestNode {
  std::unique_ptr<EventLog> events = std::make_unique<EventLog>();
  std::unique_ptr<Membership> membership;
  Membership* operator->() { return membership.get(); }
};

// Starts a node named `name` on a free loopback port.
TestNode StartNode(Config config);
Config NodeConfig(const std::string& name, Timings timings = FastTimings());

// The status `observer` has for `name`, or nullopt if it does not know it.
std::optional<MemberStatus> StatusOf(const Membership& observer, const std::string& name);
// True when every node lists all of `names` as alive.
bool AllSeeAlive(const std::vector<Membership*>& nodes, const std::vector<std::string>& names);

}  // namespace proglog::discovery::testing

#endif  // PROGLOG_TESTS_DISCOVERY_TEST_CLUSTER_H_
