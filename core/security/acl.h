// core/security/acl: the authorizer that decides whether an authenticated
// subject (the Common Name of its client certificate) may perform an action on
// an object. It reads the same two files as the original proglog's casbin
// setup: a model file (model.conf) and a policy file (policy.csv, lines
// `p, sub, obj, act`). The supported model is the original's: a three-field
// request (sub, obj, act), `p` policy lines, the effect "allow if any policy
// line matches" and a matcher made of equalities between request and policy
// fields joined with `&&`. Matching is literal: the original's policy object
// `*` matches only the object `*`, which is what the log service asks for.
// Models outside that subset are refused with an error naming what is
// unsupported, rather than silently evaluated differently.
//
// The policy is reloaded without a restart: when either file is replaced or
// rewritten (inotify on their folders; editors that write a temporary file and
// rename it are covered) and when Reload() is called (the binary calls it on
// SIGHUP). The watcher reads the files only once they have been left alone
// for a settle period, so a file rewritten in place is not read between its
// truncation and its last write (a truncated policy parses, as an empty one).
// A reload that fails to parse is refused with an error log line and the
// previous policy stays in force; requests never see a half-loaded policy.
//
// Thread-safety: all methods are thread-safe. Authorize() takes a reader lock
// only and never touches the disk, so it is fit for gRPC callback threads.
#ifndef PROGLOG_CORE_SECURITY_ACL_H_
#define PROGLOG_CORE_SECURITY_ACL_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace proglog::security {

// The actions and the object the log.v1 service authorizes.
inline constexpr std::string_view kProduceAction = "produce";
inline constexpr std::string_view kConsumeAction = "consume";
inline constexpr std::string_view kWildcardObject = "*";

// The action a log.v1 method needs ("/log.v1.Log/Produce" -> "produce"), or an
// empty view for methods the ACL does not cover (GetServers, health,
// reflection).
std::string_view ActionForMethod(std::string_view full_method_name);

struct AclFiles {
  std::filesystem::path model_file;   // casbin model, e.g. model.conf
  std::filesystem::path policy_file;  // casbin policy, e.g. policy.csv
};

struct AuthorizerOptions {
  // Reload by itself when either file changes on disk. Off: only Reload().
  bool watch_files = true;
  // How long the watched files must go without a write before the watcher
  // reads them. A writer that pauses longer than this in the middle of an
  // in-place rewrite can still be read half-way; replacing the file with a
  // rename is always safe.
  absl::Duration settle = absl::Milliseconds(200);
};

class Authorizer {
 public:
  // Loads both files. Fails (naming the file and line) if either does not
  // parse or uses something outside the supported model; then nothing runs.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Open(AclFiles files,
                                                          AuthorizerOptions options = {});
  ~Authorizer();  // stops the file watcher
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // OK if a policy line allows (subject, object, action); otherwise
  // PERMISSION_DENIED with a message naming the subject and the action.
  // An empty subject (no client certificate) is UNAUTHENTICATED.
  absl::Status Authorize(std::string_view subject, std::string_view object,
                         std::string_view action) const;

  // Reads both files again and swaps the new policy in. On error the old
  // policy stays, the error is logged and returned.
  absl::Status Reload();

  // Number of policies loaded successfully so far (1 after Open); lets callers
  // and tests see that a change was picked up.
  uint64_t Generation() const;
  // Number of policy lines in force.
  size_t RuleCount() const;

  struct Policy;  // parsed model + rules; defined in acl.cc

 private:
  Authorizer(AclFiles files, std::shared_ptr<const Policy> policy);
  absl::Status StartWatching(absl::Duration settle);
  void WatchLoop(absl::Duration settle);
  // Drains the inotify queue; true if any event concerns the ACL files.
  bool DrainEvents();
  // Reloads if the files' text differs from what is loaded now.
  void ReloadIfChanged();
  absl::Status LoadAndSwap(bool only_if_changed);

  const AclFiles files_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  // Serializes reloads so two never interleave their read and swap.
  absl::Mutex reload_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  // File names (in any watched folder) whose change triggers a reload check;
  // written before the watcher starts, then only read by it.
  std::set<std::string> watched_names_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the watcher to exit
  std::thread watcher_;
};

}  // namespace proglog::security

#endif  // PROGLOG_CORE_SECURITY_ACL_H_
