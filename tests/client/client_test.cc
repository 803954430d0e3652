#include "core/client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/node/node.h"
#include "tests/testing/free_port.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::client {
namespace {

using std::chrono::milliseconds;

// An address nothing listens on.
std::string DeadAddress() {
  return "127.0.0.1:" + std::to_string(proglog::testing::FreePort(proglog::testing::PortUse::kTcp));
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node::Config config;
    config.data_dir = dir_;
    config.node_name = "n1";
    config.log.max_record_bytes = 1024;
    auto opened = node::Node::Open(config);
    ASSERT_TRUE(opened.ok()) << opened.status();
    node_ = *std::move(opened);
    client_ = OpenClient({node_->RpcAddress()});
  }

  void TearDown() override {
    client_.reset();
    if (node_) {
      EXPECT_TRUE(node_->Close().ok());
    }
  }

  static std::unique_ptr<Client> OpenClient(std::vector<std::string> addresses) {
    Options options;
    options.addresses = std::move(addresses);
    options.call_timeout = milliseconds(5000);
    auto client = Client::Open(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown and the members below
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, ProducedRecordIsConsumedAtItsOffset) {
  auto first = client_->Produce("alpha");
  auto second = client_->Produce("beta");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first + 1);
  auto record = client_->Consume(*second);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "beta");
  EXPECT_EQ(record->offset, *second);
}

TEST_F(ClientTest, BatchGetsDenseOffsetsInOrder) {
  std::mt19937 rng(7);
  std::vector<std::string> values;
  for (int i = 0; i < 500; ++i) values.push_back(std::string(1 + rng() % 200, 'a' + i % 26));
  std::vector<std::string_view> views(values.begin(), values.end());
  auto offsets = client_->ProduceBatch(views);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  ASSERT_EQ(offsets->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ((*offsets)[i], (*offsets)[0] + i);
    auto record = client_->Consume((*offsets)[i]);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->value, values[i]);
  }
}

// A server that refuses a ProduceStream ends it at once, often before the client's
// last (half-closing) write goes out; the batch must fail cleanly every time.
TEST_F(ClientTest, BatchRefusedByTheServerFailsWithoutAbortingTheCall) {
  node::Config config;
  config.data_dir = dir_ / "denying";
  config.node_name = "n2";
  config.authorizer = [](std::string_view, std::string_view action) -> absl::Status {
    return absl::PermissionDeniedError("no " + std::string(action));
  };
  auto denying = node::Node::Open(config);
  ASSERT_TRUE(denying.ok()) << denying.status();
  std::unique_ptr<Client> client = OpenClient({(*denying)->RpcAddress()});
  ASSERT_NE(client, nullptr);
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::vector<std::string_view> views = {"refused"};
    auto offsets = client->ProduceBatch(views);
    ASSERT_EQ(offsets.status().code(), absl::StatusCode::kPermissionDenied) << offsets.status();
  }
  client.reset();
  EXPECT_TRUE((*denying)->Close().ok());
}

TEST_F(ClientTest, ConsumePastTheEndIsOutOfRange) {
  ASSERT_TRUE(client_->Produce("only").ok());
  auto record = client_->Consume(1);
  EXPECT_EQ(record.status().code(), absl::StatusCode::kOutOfRange) << record.status();
}

TEST_F(ClientTest, OversizedRecordIsMessageTooLarge) {
  auto offset = client_->Produce(std::string(4096, 'x'));
  EXPECT_EQ(offset.status().code(), absl::StatusCode::kResourceExhausted) << offset.status();
  EXPECT_TRUE(IsMessageTooLarge(offset.status())) << offset.status();
  EXPECT_TRUE(client_->Produce("small").ok());
}

TEST_F(ClientTest, BatchWithOneValueTooLargeSendsNothing) {
  const std::string big(4096, 'x');
  const std::vector<std::string_view> values = {"p1", big, "p3"};
  auto offsets = client_->ProduceBatch(values);
  ASSERT_FALSE(offsets.ok());
  EXPECT_TRUE(IsMessageTooLarge(offsets.status())) << offsets.status();
  EXPECT_TRUE(WrittenOffsets(offsets.status()).empty());
  auto next = client_->Produce("after");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 0u);  // nothing of the batch was appended
}

TEST_F(ClientTest, BatchRefusedByTheServerAppendsNothing) {
  // A client told of a larger maximum than the server's sends everything; the
  // server checks the whole batch before appending any of it.
  Options options;
  options.addresses = {node_->RpcAddress()};
  options.max_record_bytes = 1 << 20;
  auto client = Client::Open(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Produce("r0").ok());
  const std::string big(4096, 'x');
  const std::vector<std::string_view> values = {"r1", big, "r3"};
  auto offsets = (*client)->ProduceBatch(values);
  ASSERT_FALSE(offsets.ok());
  EXPECT_TRUE(IsMessageTooLarge(offsets.status())) << offsets.status();
  EXPECT_EQ(WrittenOffsets(offsets.status()), std::vector<uint64_t>{});
  EXPECT_EQ((*client)->Consume(1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ClientTest, BatchLargerThanOneRequestReportsTheChunksItAppended) {
  // The client splits a batch into requests of at most 1 MiB (until the server
  // names its own limit): the first request's records are appended before the
  // second is refused, and the error lists them.
  Options options;
  options.addresses = {node_->RpcAddress()};
  options.max_record_bytes = 1 << 20;
  auto client = Client::Open(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string small(1000, 's'), big(4096, 'x');
  std::vector<std::string_view> values(2000, small);
  values.back() = big;
  auto offsets = (*client)->ProduceBatch(values);
  ASSERT_FALSE(offsets.ok());
  EXPECT_TRUE(IsMessageTooLarge(offsets.status())) << offsets.status();
  const std::vector<uint64_t> written = WrittenOffsets(offsets.status());
  ASSERT_FALSE(written.empty());
  ASSERT_LT(written.size(), values.size());
  for (size_t i = 0; i < written.size(); ++i) EXPECT_EQ(written[i], i);
  EXPECT_TRUE((*client)->Consume(written.back()).ok());
  EXPECT_EQ((*client)->Consume(written.back() + 1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ClientTest, ConsumeToEndReadsUpToTheEndOfTheLog) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->Produce("r" + std::to_string(i)).ok());
  std::vector<std::string> got;
  auto collect = [&got](const Record& record) { got.push_back(record.value); };
  auto read = client_->ConsumeToEnd(1, 0, collect);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 4u);
  EXPECT_EQ(got, (std::vector<std::string>{"r1", "r2", "r3", "r4"}));
  got.clear();
  read = client_->ConsumeToEnd(0, 2, collect);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(got, (std::vector<std::string>{"r0", "r1"}));
  got.clear();
  read = client_->ConsumeToEnd(5, 0, collect);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 0u);
  EXPECT_TRUE(got.empty());
}

TEST_F(ClientTest, SubscriptionDeliversOldAndThenNewRecords) {
  ASSERT_TRUE(client_->Produce("r0").ok());
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto r0 = (*sub)->Next(milliseconds(5000));
  ASSERT_TRUE(r0.ok()) << r0.status();
  EXPECT_EQ(r0->value, "r0");
  // The next record does not exist yet: the stream must wait for it.
  std::thread producer([&] { EXPECT_TRUE(client_->Produce("r1").ok()); });
  auto r1 = (*sub)->Next(milliseconds(5000));
  producer.join();
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->value, "r1");
  EXPECT_EQ(r1->offset, 1u);
}

TEST_F(ClientTest, SubscriptionNextTimesOutAndStaysUsable) {
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok());
  auto none = (*sub)->Next(milliseconds(50));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
  ASSERT_TRUE(client_->Produce("late").ok());
  auto record = (*sub)->Next(milliseconds(5000));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "late");
}

TEST_F(ClientTest, SubscriptionReadsMoreThanItsBufferInOrder) {
  std::vector<std::string> values;
  for (int i = 0; i < 1000; ++i) values.push_back("v" + std::to_string(i));
  std::vector<std::string_view> views(values.begin(), values.end());
  ASSERT_TRUE(client_->ProduceBatch(views).ok());
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok());
  for (size_t i = 0; i < values.size(); ++i) {
    auto record = (*sub)->Next(milliseconds(5000));
    ASSERT_TRUE(record.ok()) << i << ": " << record.status();
    ASSERT_EQ(record->offset, i);
    ASSERT_EQ(record->value, values[i]);
  }
}

TEST_F(ClientTest, CancelWakesABlockedNext) {
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok());
  absl::StatusOr<Record> result;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    result = (*sub)->Next(milliseconds(60000));
    returned = true;
  });
  (*sub)->Cancel();
  waiter.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
}

TEST_F(ClientTest, ServerGoingAwayEndsTheStreamWithAnError) {
  ASSERT_TRUE(client_->Produce("r0").ok());
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->Next(milliseconds(5000)).ok());
  ASSERT_TRUE(node_->Close().ok());
  node_.reset();
  // Bounded: the stream must end within a deadline, never hang.
  absl::StatusOr<Record> next = absl::DeadlineExceededError("not yet");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (next.status().code() == absl::StatusCode::kDeadlineExceeded &&
         std::chrono::steady_clock::now() < deadline) {
    next = (*sub)->Next(milliseconds(200));
  }
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable) << next.status();
}

TEST_F(ClientTest, ClosedClientRefusesCallsAndCancelsSubscriptions) {
  auto sub = client_->Subscribe(0);
  ASSERT_TRUE(sub.ok());
  client_->Close();
  EXPECT_EQ(client_->Produce("x").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*sub)->Next(milliseconds(5000)).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(ClientTest, FailsOverFromAnUnreachableAddress) {
  auto client = OpenClient({DeadAddress(), node_->RpcAddress()});
  ASSERT_NE(client, nullptr);
  auto offset = client->Produce("via second");
  ASSERT_TRUE(offset.ok()) << offset.status();
  auto record = client->Consume(*offset);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "via second");
}

TEST_F(ClientTest, NoReachableServerIsUnavailable) {
  auto client = OpenClient({DeadAddress()});
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->Produce("x").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTest, GetServersNamesTheNode) {
  auto servers = client_->GetServers();
  ASSERT_TRUE(servers.ok()) << servers.status();
  ASSERT_EQ(servers->size(), 1u);
  EXPECT_EQ((*servers)[0].id, "n1");
  EXPECT_EQ((*servers)[0].rpc_addr, node_->RpcAddress());
}

TEST_F(ClientTest, ManyThreadsShareOneClient) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string value = std::to_string(t) + "/" + std::to_string(i);
        auto offset = client_->Produce(value);
        absl::StatusOr<Record> record =
            offset.ok() ? client_->Consume(*offset) : absl::StatusOr<Record>(offset.status());
        if (!record.ok() || record->value != value) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  auto last = client_->Consume(kThreads * kEach - 1);
  EXPECT_TRUE(last.ok()) << last.status();
}

TEST(ClientOptionsTest, RejectsBadOptions) {
  EXPECT_EQ(Client::Open(Options{}).status().code(), absl::StatusCode::kInvalidArgument);
  Options no_port;
  no_port.addresses = {"localhost"};
  EXPECT_EQ(Client::Open(no_port).status().code(), absl::StatusCode::kInvalidArgument);
  Options missing_ca;
  missing_ca.addresses = {"127.0.0.1:1"};
  missing_ca.tls.enabled = true;
  missing_ca.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(Client::Open(missing_ca).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace proglog::client
