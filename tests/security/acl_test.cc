// The ACL authorizer with the original proglog's casbin files, its refusals,
// and live reloads (on demand and on file change).
#include "core/security/acl.h"

#include <fcntl.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::security {
namespace {

using ::proglog::testing::ScratchDir;
using ::testing::HasSubstr;
using testing::WriteFile;

// The original proglog's model.conf, verbatim in content.
constexpr char kModel[] = R"(# Request definition
[request_definition]
r = sub, obj, act

# Policy definition
[policy_definition]
p = sub, obj, act

# Policy effect
[policy_effect]
e = some(where (p.eft == allow))

# Matchers
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
)";

constexpr char kPolicy[] = "p, root, *, produce\np, root, *, consume\n";

// Captures what the component logs, to check the lines operators rely on.
class LogCapture {
 public:
  LogCapture()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  // Safe while other threads log: the sink copies under its own lock.
  std::string Text() {
    std::string text;
    for (const std::string& line : sink_->last_formatted()) text += line;
    return text;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Polls `done` until it holds or 10 s pass.
bool Eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval, not a wait
  }
  return done();
}

class AclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_.model_file = dir_.path() / "model.conf";
    files_.policy_file = dir_.path() / "policy.csv";
    WriteFile(files_.model_file, kModel);
    WriteFile(files_.policy_file, kPolicy);
  }
  std::unique_ptr<Authorizer> Open(bool watch) {
    auto authorizer = Authorizer::Open(files_, {.watch_files = watch});
    EXPECT_TRUE(authorizer.ok()) << authorizer.status();
    return authorizer.ok() ? *std::move(authorizer) : nullptr;
  }
  // Replaces the policy the way config tools do: new file, then rename.
  void ReplacePolicy(const std::string& text) {
    std::filesystem::path tmp = dir_.path() / "policy.csv.new";
    WriteFile(tmp, text);
    std::filesystem::rename(tmp, files_.policy_file);
  }

  ScratchDir dir_;
  AclFiles files_;
};

TEST_F(AclTest, OriginalPolicyAllowsRootToProduceAndConsume) {
  auto acl = Open(false);
  EXPECT_TRUE(acl->Authorize("root", "*", "produce").ok());
  EXPECT_TRUE(acl->Authorize("root", "*", "consume").ok());
  EXPECT_EQ(acl->RuleCount(), 2u);
  EXPECT_EQ(acl->Generation(), 1u);
}

TEST_F(AclTest, SubjectOutsideThePolicyIsDeniedNamingSubjectAndAction) {
  auto acl = Open(false);
  absl::Status denied = acl->Authorize("nobody", "*", "produce");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("nobody"));
  EXPECT_THAT(denied.message(), HasSubstr("produce"));
  EXPECT_EQ(acl->Authorize("root", "*", "delete").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AclTest, MissingSubjectIsUnauthenticated) {
  auto acl = Open(false);
  absl::Status status = acl->Authorize("", "*", "produce");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("no certificate"));
}

TEST_F(AclTest, StarIsALiteralObject) {
  auto acl = Open(false);
  EXPECT_EQ(acl->Authorize("root", "topic-a", "produce").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AclTest, FieldsAreComparedWhole) {
  // A naive key of joined fields would let "ro" + "ot,*" pose as "root", "*".
  WriteFile(files_.policy_file, "p, \"a,b\", c, produce\n");
  auto acl = Open(false);
  EXPECT_TRUE(acl->Authorize("a,b", "c", "produce").ok());
  EXPECT_FALSE(acl->Authorize("a", "b,c", "produce").ok());
}

TEST_F(AclTest, CommentsAndBlankLinesAreIgnored) {
  WriteFile(files_.policy_file, "# who may write\n\n  p,root,*,produce  \n");
  auto acl = Open(false);
  EXPECT_TRUE(acl->Authorize("root", "*", "produce").ok());
  EXPECT_EQ(acl->RuleCount(), 1u);
}

TEST_F(AclTest, MatcherMayListTermsInAnyOrderAndSide) {
  std::string model = kModel;
  model.replace(model.find("m = "), std::string::npos,
                "m = p.act == r.act && (r.sub == p.sub) && r.obj == p.obj\n");
  WriteFile(files_.model_file, model);
  auto acl = Open(false);
  EXPECT_TRUE(acl->Authorize("root", "*", "consume").ok());
  EXPECT_FALSE(acl->Authorize("*", "root", "consume").ok());
}

TEST_F(AclTest, MalformedPolicyIsRefusedAtOpenNamingFileAndLine) {
  WriteFile(files_.policy_file, "p, root, *, produce\np, root, consume\n");
  auto acl = Authorizer::Open(files_, {.watch_files = false});
  EXPECT_EQ(acl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(acl.status().message(), HasSubstr("policy.csv"));
  EXPECT_THAT(acl.status().message(), HasSubstr("line 2"));
}

TEST_F(AclTest, UnsupportedModelsAreRefusedRatherThanMisread) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"m = r.sub == p.sub && r.obj == p.obj && r.act == p.act",
       "m = keyMatch(r.obj, p.obj) && r.sub == p.sub"},
      {"e = some(where (p.eft == allow))", "e = !some(where (p.eft == deny))"},
      {"[request_definition]", "[role_definition]\ng = _, _\n\n[request_definition]"},
      {"m = r.sub == p.sub && r.obj == p.obj && r.act == p.act",
       "m = r.sub == p.sub && r.owner == p.obj"},
  };
  for (const auto& [from, to] : cases) {
    std::string model = kModel;
    model.replace(model.find(from), from.size(), to);
    WriteFile(files_.model_file, model);
    auto acl = Authorizer::Open(files_, {.watch_files = false});
    EXPECT_EQ(acl.status().code(), absl::StatusCode::kInvalidArgument) << to;
    EXPECT_THAT(acl.status().message(), HasSubstr("model.conf")) << to;
  }
}

TEST_F(AclTest, PolicyLineWithEmptySubjectIsRefused) {
  // Otherwise a caller without a certificate (empty subject) would match.
  WriteFile(files_.policy_file, "p, , *, produce\n");
  auto acl = Authorizer::Open(files_, {.watch_files = false});
  EXPECT_EQ(acl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(acl.status().message(), HasSubstr("empty"));
}

TEST_F(AclTest, ReloadAppliesTheNewPolicy) {
  auto acl = Open(false);
  ASSERT_FALSE(acl->Authorize("nobody", "*", "consume").ok());
  WriteFile(files_.policy_file, "p, root, *, produce\np, nobody, *, consume\n");
  ASSERT_TRUE(acl->Reload().ok());
  EXPECT_TRUE(acl->Authorize("nobody", "*", "consume").ok());
  EXPECT_FALSE(acl->Authorize("root", "*", "consume").ok());
  EXPECT_EQ(acl->Generation(), 2u);
}

TEST_F(AclTest, BrokenReloadKeepsTheOldPolicyAndLogsWhy) {
  LogCapture log;
  auto acl = Open(false);
  WriteFile(files_.policy_file, "p, nobody, *\n");
  absl::Status status = acl->Reload();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(acl->Authorize("root", "*", "produce").ok());
  EXPECT_FALSE(acl->Authorize("nobody", "*", "produce").ok());
  EXPECT_EQ(acl->Generation(), 1u);
  std::string text = log.Text();
  EXPECT_THAT(text, HasSubstr("refusing the new ACL policy"));
  EXPECT_THAT(text, HasSubstr("policy.csv"));
  EXPECT_THAT(text, HasSubstr("keeping the previous policy (2 lines)"));
}

TEST_F(AclTest, MissingPolicyFileOnReloadKeepsTheOldPolicy) {
  auto acl = Open(false);
  std::filesystem::remove(files_.policy_file);
  EXPECT_EQ(acl->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(acl->Authorize("root", "*", "produce").ok());
}

TEST_F(AclTest, RewrittenPolicyFileIsPickedUpWithoutReload) {
  auto acl = Open(true);
  WriteFile(files_.policy_file, std::string(kPolicy) + "p, nobody, *, produce\n");
  EXPECT_TRUE(Eventually([&] { return acl->Authorize("nobody", "*", "produce").ok(); }));
  EXPECT_EQ(acl->Generation(), 2u);
}

TEST_F(AclTest, AnInPlaceRewriteIsReadOnlyOnceItsWriterIsDone) {
  // A long settle period, so the test's own pauses (30 ms) cannot reach it
  // even on a loaded machine.
  auto authorizer = Authorizer::Open(files_, {.watch_files = true, .settle = absl::Seconds(2)});
  ASSERT_TRUE(authorizer.ok()) << authorizer.status();
  Authorizer& acl = **authorizer;
  // A first rewrite, closed: the watcher sees it...
  WriteFile(files_.policy_file, "p, root, *, produce\np, a, *, consume\n");
  // ...and a second in-place rewrite starts at once, truncating the file and
  // writing it in two parts. Read between them, the file would parse as a
  // policy that denies root.
  const int fd = ::open(files_.policy_file.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const std::string first = "p, nobody, *, consume\n",
                    rest = "p, root, *, produce\np, b, *, consume\n";
  ASSERT_EQ(::write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_EQ(::write(fd, rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ::close(fd);
  EXPECT_TRUE(Eventually([&] { return acl.Authorize("b", "*", "consume").ok(); }));
  EXPECT_TRUE(acl.Authorize("root", "*", "produce").ok());
  // One reload, of the finished file: neither the first rewrite nor a part
  // of the second was ever in force.
  EXPECT_EQ(acl.Generation(), 2u);
}

TEST_F(AclTest, ANegativeSettlePeriodIsRefused) {
  auto authorizer = Authorizer::Open(files_, {.watch_files = true, .settle = absl::Seconds(-1)});
  ASSERT_FALSE(authorizer.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(authorizer.status())) << authorizer.status();
  EXPECT_NE(authorizer.status().message().find("settle"), std::string::npos);
}

TEST_F(AclTest, RenamedOverPolicyFileIsPickedUpWithoutReload) {
  auto acl = Open(true);
  ReplacePolicy("p, nobody, *, consume\n");
  EXPECT_TRUE(Eventually([&] { return acl->Authorize("nobody", "*", "consume").ok(); }));
  EXPECT_FALSE(acl->Authorize("root", "*", "consume").ok());
}

TEST_F(AclTest, EditOfASymlinkedPolicyTargetIsPickedUp) {
  // The policy path is a symlink into another folder, as config tools do.
  std::filesystem::create_directory(dir_.path() / "real");
  std::filesystem::path target = dir_.path() / "real" / "policy-v1.csv";
  WriteFile(target, kPolicy);
  std::filesystem::remove(files_.policy_file);
  std::filesystem::create_symlink(target, files_.policy_file);
  auto acl = Open(true);
  WriteFile(target, "p, nobody, *, consume\n");
  EXPECT_TRUE(Eventually([&] { return acl->Authorize("nobody", "*", "consume").ok(); }));
}

TEST_F(AclTest, BrokenFileChangeIsRefusedAndTheOldPolicyStays) {
  LogCapture log;
  auto acl = Open(true);
  ReplacePolicy("p, nobody, *, produce, extra\n");
  EXPECT_TRUE(Eventually([&] { return log.Text().find("refusing") != std::string::npos; }));
  EXPECT_TRUE(acl->Authorize("root", "*", "produce").ok());
  EXPECT_FALSE(acl->Authorize("nobody", "*", "produce").ok());
  EXPECT_EQ(acl->Generation(), 1u);
  // Fixing the file later is picked up as usual.
  ReplacePolicy("p, nobody, *, produce\n");
  EXPECT_TRUE(Eventually([&] { return acl->Authorize("nobody", "*", "produce").ok(); }));
}

TEST_F(AclTest, AuthorizeNeverSeesAHalfLoadedPolicyDuringReloads) {
  auto acl = Open(false);
  std::atomic<bool> stop{false};
  std::atomic<int> denials{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> readers;
  readers.reserve(2);
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!acl->Authorize("root", "*", "produce").ok()) denials.fetch_add(1);
        checks.fetch_add(1);
      }
    });
  }
  // Both policies allow root to produce; they differ in everything else.
  for (int i = 0; i < 50; ++i) {
    WriteFile(files_.policy_file, i % 2 == 0 ? "p, root, *, produce\np, a, *, consume\n"
                                             : "p, b, *, consume\np, root, *, produce\n");
    ASSERT_TRUE(acl->Reload().ok());
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(denials.load(), 0);
  EXPECT_GT(checks.load(), 0);
  EXPECT_EQ(acl->Generation(), 51u);
}

TEST(ActionForMethod, MapsLogMethodsToActions) {
  EXPECT_EQ(ActionForMethod("/log.v1.Log/Produce"), kProduceAction);
  EXPECT_EQ(ActionForMethod("/log.v1.Log/ProduceStream"), kProduceAction);
  EXPECT_EQ(ActionForMethod("/log.v1.Log/Consume"), kConsumeAction);
  EXPECT_EQ(ActionForMethod("/log.v1.Log/ConsumeStream"), kConsumeAction);
  EXPECT_EQ(ActionForMethod("/log.v1.Log/GetServers"), "");
  EXPECT_EQ(ActionForMethod("/grpc.health.v1.Health/Check"), "");
}

}  // namespace
}  // namespace proglog::security
