// The Raft path's share of tracing: a one-voter replicated log keeps fsync
// timings for trace spans only when its node traces, and a completed append
// finds the fsync that made it durable either way (core/telemetry/trace.h).
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/node/peer_directory.h"
#include "core/node/replicated_log.h"
#include "core/telemetry/trace.h"
#include "gtest/gtest.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node::internal {
namespace {

// A lone voter has no one to send to: any message is a failure.
class NoPeers final : public raft::Transport {
 public:
  void Send(const raft::Message& message) override {
    ADD_FAILURE() << "a one-voter log sent a message to " << message.to;
  }
};

class ReplicatedLogTraceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ReplicatedLogOptions options;
    options.node_name = "n1";
    options.raft_id = 1;
    options.rpc_addr = "127.0.0.1:1";
    options.bootstrap = true;
    options.tracing = GetParam();
    absl::StatusOr<std::unique_ptr<ReplicatedLog>> log =
        ReplicatedLog::Open(dir_ / "raft", std::move(options), &transport_, &peers_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    log_->Start();
    ASSERT_TRUE(log_->IsLeader());
  }
  void TearDown() override {
    if (log_ != nullptr) {
      EXPECT_TRUE(log_->Stop().ok());
    }
  }

  // Appends one record and returns the fsync timing current while its
  // completion ran (what a sampled request's handler would read).
  std::optional<telemetry::FsyncTiming> AppendAndSeeFsync(const std::string& value) {
    std::promise<std::optional<telemetry::FsyncTiming>> seen;
    std::vector<server::NewRecord> records;
    records.push_back(server::NewRecord{value, 0});
    absl::Status queued =
        log_->AppendBatch(std::move(records), [&seen](const absl::StatusOr<uint64_t>& first) {
          EXPECT_TRUE(first.ok()) << first.status();
          const telemetry::FsyncTiming* fsync = telemetry::CurrentFsyncTiming();
          seen.set_value(fsync == nullptr ? std::nullopt : std::optional(*fsync));
        });
    EXPECT_TRUE(queued.ok()) << queued;
    return seen.get_future().get();
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  NoPeers transport_;
  PeerDirectory peers_;
  std::unique_ptr<ReplicatedLog> log_;
};

TEST_P(ReplicatedLogTraceTest, FsyncTimingsAreKeptOnlyWhenTracing) {
  const uint64_t before = telemetry::UnixNanosNow();
  for (int i = 0; i < 5; ++i) {
    const std::optional<telemetry::FsyncTiming> fsync = AppendAndSeeFsync("v" + std::to_string(i));
    // The default durability fsyncs every append; a tracing node must find it.
    if (GetParam()) {
      ASSERT_TRUE(fsync.has_value()) << "append " << i;
    }
    if (fsync.has_value()) {
      EXPECT_LE(before, fsync->start_unix_nanos);
      EXPECT_LE(fsync->start_unix_nanos, fsync->end_unix_nanos);
    }
  }
  ASSERT_TRUE(log_->Stop().ok());
  if (GetParam()) {
    EXPECT_GT(log_->KeptFsyncsForTesting(), 0u);
  } else {
    EXPECT_EQ(log_->KeptFsyncsForTesting(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Tracing, ReplicatedLogTraceTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Traced" : "Untraced";
                         });

}  // namespace
}  // namespace proglog::node::internal
