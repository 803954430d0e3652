#include "core/security/acl.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/security/message.h"
#include "core/security/pem_codec.h"
#include "spdlog/spdlog.h"

namespace proglog::security {

struct Authorizer::Policy {
  std::vector<std::string> request_fields;  // e.g. sub, obj, act
  std::vector<std::string> policy_fields;
  // Each matcher term compares request field `first` with policy field `second`.
  std::vector<std::pair<size_t, size_t>> matcher;
  // One key per policy line: the matched policy fields, length-prefixed so no
  // two different tuples share a key. A request matches when its key is here.
  absl::flat_hash_set<std::string> rules;
  size_t rule_count = 0;
  std::string model_text;
  std::string policy_text;
};

namespace {

using Policy = Authorizer::Policy;

std::string Quote(const std::filesystem::path& path) {
  return internal::Msg("\"", path.string(), "\"");
}

void AppendKeyPart(std::string* key, std::string_view part) {
  key->append(std::to_string(part.size()));
  key->push_back(':');
  key->append(part.data(), part.size());
}

std::vector<std::string> SplitFieldNames(absl::string_view value) {
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(value, ',')) {
    names.emplace_back(absl::StripAsciiWhitespace(name));
  }
  return names;
}

// The model file as section -> key -> value, INI style as casbin writes it.
using ModelSections = std::map<std::string, std::map<std::string, std::string>>;

absl::StatusOr<ModelSections> ParseModelSections(absl::string_view text,
                                                 const std::filesystem::path& path) {
  ModelSections sections;
  std::string current;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return absl::InvalidArgumentError(
            internal::Msg("ACL model file ", Quote(path), " line ", line_no, ": unclosed section"));
      }
      current = std::string(absl::StripAsciiWhitespace(line.substr(1, line.size() - 2)));
      sections[current];
      continue;
    }
    size_t eq = line.find('=');
    if (current.empty() || eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(internal::Msg("ACL model file ", Quote(path), " line ",
                                                      line_no,
                                                      ": expected `key = value` in a section"));
    }
    sections[current][std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)));
  }
  return sections;
}

absl::StatusOr<std::string> Required(const ModelSections& sections, const std::string& section,
                                     const std::string& key, const std::filesystem::path& path) {
  auto s = sections.find(section);
  if (s == sections.end() || !s->second.contains(key)) {
    return absl::InvalidArgumentError(internal::Msg("ACL model file ", Quote(path), ": missing `",
                                                    key, " = ...` in [", section, "]"));
  }
  return s->second.at(key);
}

absl::StatusOr<size_t> FieldIndex(absl::string_view ref, absl::string_view prefix,
                                  const std::vector<std::string>& fields) {
  if (!absl::ConsumePrefix(&ref, prefix)) return absl::NotFoundError("");
  auto it = std::find(fields.begin(), fields.end(), ref);
  if (it == fields.end()) return absl::NotFoundError("");
  return static_cast<size_t>(it - fields.begin());
}

absl::Status ParseMatcher(absl::string_view matcher, Policy* policy,
                          const std::filesystem::path& path) {
  for (absl::string_view term : absl::StrSplit(matcher, "&&")) {
    term = absl::StripAsciiWhitespace(term);
    while (term.size() > 2 && term.front() == '(' && term.back() == ')') {
      term = absl::StripAsciiWhitespace(term.substr(1, term.size() - 2));
    }
    std::vector<absl::string_view> sides = absl::StrSplit(term, "==");
    auto unsupported = [&] {
      return absl::InvalidArgumentError(
          internal::Msg("ACL model file ", Quote(path), ": unsupported matcher term `", term,
                        "`; supported are equalities `r.FIELD == p.FIELD` joined with &&"));
    };
    if (sides.size() != 2) return unsupported();
    absl::string_view a = absl::StripAsciiWhitespace(sides[0]);
    absl::string_view b = absl::StripAsciiWhitespace(sides[1]);
    if (absl::StartsWith(a, "p.")) std::swap(a, b);
    auto r = FieldIndex(a, "r.", policy->request_fields);
    auto p = FieldIndex(b, "p.", policy->policy_fields);
    if (!r.ok() || !p.ok()) return unsupported();
    policy->matcher.emplace_back(*r, *p);
  }
  return absl::OkStatus();
}

absl::Status ParseModel(absl::string_view text, const std::filesystem::path& path, Policy* policy) {
  auto sections = ParseModelSections(text, path);
  if (!sections.ok()) return sections.status();
  for (const char* unsupported : {"role_definition"}) {
    if (sections->contains(unsupported)) {
      return absl::InvalidArgumentError(internal::Msg("ACL model file ", Quote(path), ": [",
                                                      unsupported, "] (roles) is not supported"));
    }
  }
  auto r = Required(*sections, "request_definition", "r", path);
  auto p = Required(*sections, "policy_definition", "p", path);
  auto e = Required(*sections, "policy_effect", "e", path);
  auto m = Required(*sections, "matchers", "m", path);
  for (const auto* s : {&r, &p, &e, &m}) {
    if (!s->ok()) return s->status();
  }
  policy->request_fields = SplitFieldNames(*r);
  policy->policy_fields = SplitFieldNames(*p);
  if (policy->request_fields.size() != 3) {
    return absl::InvalidArgumentError(internal::Msg(
        "ACL model file ", Quote(path),
        ": the request must have three fields (subject, object, action), got `", *r, "`"));
  }
  if (std::find(policy->policy_fields.begin(), policy->policy_fields.end(), "eft") !=
      policy->policy_fields.end()) {
    return absl::InvalidArgumentError(internal::Msg(
        "ACL model file ", Quote(path), ": an `eft` policy field (deny rules) is not supported"));
  }
  std::string effect = absl::StrReplaceAll(*e, {{" ", ""}, {"\t", ""}});
  if (effect != "some(where(p.eft==allow))") {
    return absl::InvalidArgumentError(
        internal::Msg("ACL model file ", Quote(path), ": unsupported policy effect `", *e,
                      "`; supported is `some(where (p.eft == allow))`"));
  }
  return ParseMatcher(*m, policy, path);
}

// One CSV line as casbin reads it: comma separated, fields trimmed, double
// quotes allowed around a field that contains a comma.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return absl::InvalidArgumentError("unterminated quote");
  for (std::string& field : fields) field = std::string(absl::StripAsciiWhitespace(field));
  return fields;
}

absl::Status ParsePolicy(absl::string_view text, const std::filesystem::path& path,
                         Policy* policy) {
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return internal::Msg("ACL policy file ", Quote(path), " line ", line_no); };
    auto fields = SplitCsvLine(line);
    if (!fields.ok())
      return absl::InvalidArgumentError(internal::Msg(where(), ": unterminated quote"));
    if ((*fields)[0] != "p") {
      return absl::InvalidArgumentError(internal::Msg(where(), ": policy type `", (*fields)[0],
                                                      "` is not supported (only `p` lines)"));
    }
    if (fields->size() - 1 != policy->policy_fields.size()) {
      return absl::InvalidArgumentError(
          internal::Msg(where(), ": expected ", policy->policy_fields.size(),
                        " fields after `p`, got ", fields->size() - 1));
    }
    std::string key;
    for (const auto& [r, p] : policy->matcher) {
      const std::string& value = (*fields)[p + 1];
      if (value.empty()) {
        return absl::InvalidArgumentError(
            internal::Msg(where(), ": field `", policy->policy_fields[p], "` is empty"));
      }
      AppendKeyPart(&key, value);
    }
    policy->rules.insert(std::move(key));
    ++policy->rule_count;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Policy>> LoadPolicy(const AclFiles& files) {
  auto model_text = internal::ReadTextFile(files.model_file, "ACL model file");
  if (!model_text.ok()) return model_text.status();
  auto policy_text = internal::ReadTextFile(files.policy_file, "ACL policy file");
  if (!policy_text.ok()) return policy_text.status();
  auto policy = std::make_shared<Policy>();
  if (absl::Status s = ParseModel(*model_text, files.model_file, policy.get()); !s.ok()) return s;
  if (absl::Status s = ParsePolicy(*policy_text, files.policy_file, policy.get()); !s.ok()) {
    return s;
  }
  policy->model_text = *std::move(model_text);
  policy->policy_text = *std::move(policy_text);
  return policy;
}

std::filesystem::path FolderOf(const std::filesystem::path& file) {
  std::filesystem::path parent = std::filesystem::absolute(file).parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

std::string_view ActionForMethod(std::string_view full_method_name) {
  if (full_method_name == "/log.v1.Log/Produce" ||
      full_method_name == "/log.v1.Log/ProduceStream") {
    return kProduceAction;
  }
  if (full_method_name == "/log.v1.Log/Consume" ||
      full_method_name == "/log.v1.Log/ConsumeStream") {
    return kConsumeAction;
  }
  return {};
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Open(AclFiles files,
                                                             AuthorizerOptions options) {
  if (options.settle < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        internal::Msg("acl: the settle period of the file watcher must not be negative, got ",
                      absl::FormatDuration(options.settle)));
  }
  auto policy = LoadPolicy(files);
  if (!policy.ok()) return policy.status();
  spdlog::info("acl: loaded {} policy lines from {}", (*policy)->rule_count,
               files.policy_file.string());
  if ((*policy)->rule_count == 0) {
    spdlog::warn("acl: policy file {} has no policy lines; every request will be denied",
                 files.policy_file.string());
  }
  std::unique_ptr<Authorizer> authorizer(new Authorizer(std::move(files), *std::move(policy)));
  if (options.watch_files) {
    if (absl::Status s = authorizer->StartWatching(options.settle); !s.ok()) return s;
  }
  return authorizer;
}

Authorizer::Authorizer(AclFiles files, std::shared_ptr<const Policy> policy)
    : files_(std::move(files)), policy_(std::move(policy)) {}

Authorizer::~Authorizer() {
  if (watcher_.joinable()) {
    uint64_t one = 1;
    // The watcher polls this fd; a failed write would leave it blocked, so retry on EINTR.
    while (::write(stop_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    watcher_.join();
  }
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

absl::Status Authorizer::Authorize(std::string_view subject, std::string_view object,
                                   std::string_view action) const {
  if (subject.empty()) {
    // Without TLS there is no certificate and so no subject; say so rather
    // than blaming the policy.
    return absl::UnauthenticatedError(internal::Msg("no authenticated subject for ", action,
                                                    ": the client presented no certificate"));
  }
  const std::array<std::string_view, 3> request = {subject, object, action};
  {
    absl::ReaderMutexLock lock(&mu_);
    std::string key;
    for (const auto& [r, p] : policy_->matcher) AppendKeyPart(&key, request[r]);
    if (policy_->rules.contains(key)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(internal::Msg("subject \"", subject, "\" is not permitted to ",
                                                   action, " on \"", object, "\""));
}

absl::Status Authorizer::Reload() { return LoadAndSwap(/*only_if_changed=*/false); }

void Authorizer::ReloadIfChanged() { LoadAndSwap(/*only_if_changed=*/true).IgnoreError(); }

absl::Status Authorizer::LoadAndSwap(bool only_if_changed) {
  absl::MutexLock reload_lock(&reload_mu_);
  auto fresh = LoadPolicy(files_);
  // Only this function (under reload_mu_) replaces policy_, so reading it
  // here needs no lock against writers; readers are never blocked by the
  // file reading above or the logging below.
  std::shared_ptr<const Policy> current;
  {
    absl::ReaderMutexLock lock(&mu_);
    current = policy_;
  }
  if (!fresh.ok()) {
    spdlog::error("acl: refusing the new ACL policy: {}; keeping the previous policy ({} lines)",
                  std::string(fresh.status().message()), current->rule_count);
    return fresh.status();
  }
  if (only_if_changed && (*fresh)->model_text == current->model_text &&
      (*fresh)->policy_text == current->policy_text) {
    return absl::OkStatus();
  }
  size_t lines = (*fresh)->rule_count;
  {
    absl::MutexLock lock(&mu_);
    policy_ = *std::move(fresh);
    ++generation_;
  }
  spdlog::info("acl: reloaded {} policy lines from {} (was {})", lines, files_.policy_file.string(),
               current->rule_count);
  return absl::OkStatus();
}

uint64_t Authorizer::Generation() const {
  absl::ReaderMutexLock lock(&mu_);
  return generation_;
}

size_t Authorizer::RuleCount() const {
  absl::ReaderMutexLock lock(&mu_);
  return policy_->rule_count;
}

absl::Status Authorizer::StartWatching(absl::Duration settle) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (inotify_fd_ < 0 || stop_fd_ < 0) {
    return absl::InternalError(
        internal::Msg("acl: cannot set up file watching: ", std::strerror(errno)));
  }
  // Watch the folders, not the files: an editor or a config tool usually
  // replaces the file by renaming a new one over it, which a watch on the old
  // inode would miss.
  // A path that is a symlink is also watched where it points, so edits to
  // the target are seen.
  std::set<std::string> folders;
  for (const std::filesystem::path& file : {files_.model_file, files_.policy_file}) {
    folders.insert(FolderOf(file).string());
    std::error_code ec;
    std::filesystem::path target = std::filesystem::canonical(file, ec);
    if (!ec) {
      folders.insert(FolderOf(target).string());
      watched_names_.insert(target.filename().string());
    }
    watched_names_.insert(file.filename().string());
  }
  for (const std::string& folder : folders) {
    // IN_MODIFY too: each write of an in-place rewrite restarts the settle period.
    if (inotify_add_watch(inotify_fd_, folder.c_str(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) <
        0) {
      return absl::InternalError(
          internal::Msg("acl: cannot watch folder \"", folder, "\": ", std::strerror(errno)));
    }
  }
  watcher_ = std::thread([this, settle] { WatchLoop(settle); });
  return absl::OkStatus();
}

void Authorizer::WatchLoop(absl::Duration settle) {
  const int settle_ms = static_cast<int>(absl::ToInt64Milliseconds(settle));
  bool pending = false;  // a change seen, not yet read
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    // Waiting for a change: no timeout. A change pending: read the files once
    // a settle period passes without another event.
    const int ready = ::poll(fds, 2, pending ? settle_ms : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("acl: file watcher stopped: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {
      pending = false;
      ReloadIfChanged();
      continue;
    }
    if (DrainEvents()) pending = true;
  }
}

bool Authorizer::DrainEvents() {
  alignas(inotify_event) char buf[8192];
  bool relevant = false;
  ssize_t n;
  while ((n = ::read(inotify_fd_, buf, sizeof(buf))) > 0) {
    for (char* at = buf; at < buf + n;) {
      auto* event = reinterpret_cast<inotify_event*>(at);
      std::string_view name = event->len > 0 ? event->name : "";
      // A rename into the folder may be a symlink swap (as config tools do)
      // that changes what our path points to, so any rename counts.
      // An overflowed queue lost events, so any of them may have been ours.
      if (watched_names_.contains(std::string(name)) ||
          (event->mask & (IN_MOVED_TO | IN_Q_OVERFLOW))) {
        relevant = true;
      }
      at += sizeof(inotify_event) + event->len;
    }
  }
  return relevant;
}

}  // namespace proglog::security
