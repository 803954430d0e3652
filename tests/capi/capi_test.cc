// Behaviour of the C API as a C caller sees it: codes, error objects, handles.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "proglog/proglog.h"
#include "tests/testing/scratch_dir.h"

namespace {

std::string Value(const proglog_record* record) {
  size_t len = 0;
  const void* data = proglog_record_value(record, &len);
  return std::string(static_cast<const char*>(data), len);
}

class CapiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    opts.data_dir = dir_.c_str();
    opts.node_name = "capi";
    opts.max_record_bytes = 1024;
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
    EXPECT_EQ(err, nullptr);
    client_ = OpenClient({proglog_node_address(node_)});
    ASSERT_NE(client_, nullptr);
  }

  void TearDown() override {
    proglog_client_free(client_);
    proglog_node_free(node_);
  }

  static proglog_client* OpenClient(std::vector<const char*> addresses) {
    proglog_client_options opts;
    EXPECT_EQ(proglog_client_options_init(&opts, PROGLOG_CLIENT_OPTIONS_VERSION), PROGLOG_OK);
    opts.addresses = addresses.data();
    opts.address_count = addresses.size();
    opts.timeout_ms = 5000;
    proglog_client* client = nullptr;
    proglog_error* err = nullptr;
    EXPECT_EQ(proglog_client_open(&client, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
    proglog_error_free(err);
    return client;
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown
  const std::filesystem::path dir_ = scratch_.path();
  proglog_node* node_ = nullptr;
  proglog_client* client_ = nullptr;
};

TEST(CapiLibraryTest, VersionMatchesTheHeader) {
  const std::string expected = std::to_string(PROGLOG_VERSION_MAJOR) + "." +
                               std::to_string(PROGLOG_VERSION_MINOR) + "." +
                               std::to_string(PROGLOG_VERSION_PATCH);
  EXPECT_EQ(proglog_version(), expected);
  EXPECT_STREQ(proglog_code_name(PROGLOG_EOUTOFRANGE), "PROGLOG_EOUTOFRANGE");
  EXPECT_STREQ(proglog_code_name(-999), "unknown");
}

TEST(CapiLibraryTest, NullHandlesGiveEinvalWithAMessage) {
  uint64_t offset = 0;
  proglog_record* record = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_produce(&offset, nullptr, "x", 1, &err), PROGLOG_EINVAL);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(proglog_error_code(err), PROGLOG_EINVAL);
  EXPECT_NE(std::string(proglog_error_message(err)).find("NULL"), std::string::npos);
  proglog_error_free(err);
  EXPECT_EQ(proglog_node_append(&offset, nullptr, "x", 1, nullptr), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_node_read(&record, nullptr, 0, nullptr), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_client_consume(&record, nullptr, 0, nullptr), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_subscription_next(&record, nullptr, 0, nullptr), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_node_close(nullptr, nullptr), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_node_address(nullptr), nullptr);
  // Freeing and cancelling NULL are no-ops.
  proglog_node_free(nullptr);
  proglog_client_free(nullptr);
  proglog_subscription_cancel(nullptr);
  proglog_subscription_free(nullptr);
  proglog_record_free(nullptr);
  proglog_error_free(nullptr);
}

TEST(CapiLibraryTest, OptionsOfAnUnknownVersionAreRejected) {
  proglog_node_options node_opts = PROGLOG_NODE_OPTIONS_INIT;
  node_opts.version = PROGLOG_NODE_OPTIONS_VERSION + 1;
  node_opts.data_dir = "/tmp/never-created";
  proglog_node* node = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_node_open(&node, &node_opts, &err), PROGLOG_EINVAL);
  EXPECT_EQ(node, nullptr);
  EXPECT_NE(std::string(proglog_error_message(err)).find("version"), std::string::npos);
  proglog_error_free(err);
  proglog_client_options client_opts;
  EXPECT_EQ(proglog_client_options_init(&client_opts, 0), PROGLOG_EINVAL);
  EXPECT_EQ(proglog_client_open(nullptr, nullptr, nullptr), PROGLOG_EINVAL);
}

TEST(CapiLibraryTest, ClientWithoutAddressesIsEinval) {
  proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
  proglog_client* client = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_open(&client, &opts, &err), PROGLOG_EINVAL);
  EXPECT_EQ(client, nullptr);
  EXPECT_NE(std::string(proglog_error_message(err)).find("address"), std::string::npos);
  proglog_error_free(err);
}

TEST_F(CapiTest, NodeAppendsAndReadsLocally) {
  uint64_t first = 0, second = 0;
  ASSERT_EQ(proglog_node_append(&first, node_, "one", 3, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_node_append(&second, node_, "two", 3, nullptr), PROGLOG_OK);
  EXPECT_EQ(second, first + 1);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_node_read(&record, node_, second, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "two");
  EXPECT_EQ(proglog_record_offset(record), second);
  proglog_record_free(record);
  EXPECT_NE(std::strchr(proglog_node_address(node_), ':'), nullptr);
}

TEST_F(CapiTest, ClosedNodeReportsEclosedAndKeepsItsAddress) {
  const std::string address = proglog_node_address(node_);
  ASSERT_EQ(proglog_node_close(node_, nullptr), PROGLOG_OK);
  EXPECT_EQ(proglog_node_close(node_, nullptr), PROGLOG_OK);  // idempotent
  uint64_t offset = 0;
  EXPECT_EQ(proglog_node_append(&offset, node_, "x", 1, nullptr), PROGLOG_ECLOSED);
  EXPECT_EQ(proglog_node_address(node_), address);
}

TEST_F(CapiTest, SecondNodeOnTheSameDataDirIsEbusy) {
  proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
  opts.data_dir = dir_.c_str();
  proglog_node* second = nullptr;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&second, &opts, &err), PROGLOG_EBUSY);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(proglog_error_code(err), PROGLOG_EBUSY);
  EXPECT_NE(std::string(proglog_error_message(err)).find("already in use"), std::string::npos)
      << proglog_error_message(err);
  EXPECT_EQ(proglog_error_retryable(err), 0);
  EXPECT_STREQ(proglog_code_name(PROGLOG_EBUSY), "PROGLOG_EBUSY");
  proglog_error_free(err);
  // The first node is unharmed, and once it is closed the dir is free again.
  uint64_t offset = 0;
  EXPECT_EQ(proglog_node_append(&offset, node_, "x", 1, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_node_close(node_, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_node_open(&second, &opts, nullptr), PROGLOG_OK);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_node_read(&record, second, offset, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "x");
  proglog_record_free(record);
  proglog_node_free(second);
}

TEST_F(CapiTest, ClientSeesWhatTheNodeAppended) {
  uint64_t offset = 0;
  ASSERT_EQ(proglog_node_append(&offset, node_, "local", 5, nullptr), PROGLOG_OK);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_client_consume(&record, client_, offset, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "local");
  proglog_record_free(record);
}

TEST_F(CapiTest, EmptyValuesAreRecords) {
  uint64_t local = 0, remote = 0;
  ASSERT_EQ(proglog_node_append(&local, node_, nullptr, 0, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_client_produce(&remote, client_, "", 0, nullptr), PROGLOG_OK);
  EXPECT_EQ(remote, local + 1);
  for (uint64_t offset : {local, remote}) {
    proglog_record* record = nullptr;
    ASSERT_EQ(proglog_client_consume(&record, client_, offset, nullptr), PROGLOG_OK);
    EXPECT_EQ(Value(record), "");
    proglog_record_free(record);
  }
}

TEST_F(CapiTest, BatchProduceFillsEveryOffset) {
  std::vector<std::string> values = {"a", "bb", "", "dddd"};
  std::vector<const void*> data;
  std::vector<size_t> lens;
  for (auto& v : values) {
    data.push_back(v.data());
    lens.push_back(v.size());
  }
  // An empty value is a record like any other, as in the original proglog.
  std::vector<uint64_t> offsets(values.size(), 99);
  ASSERT_EQ(proglog_client_produce_batch(offsets.data(), client_, data.data(), lens.data(),
                                         values.size(), nullptr),
            PROGLOG_OK);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(offsets[i], offsets[0] + i);
    proglog_record* record = nullptr;
    ASSERT_EQ(proglog_client_consume(&record, client_, offsets[i], nullptr), PROGLOG_OK);
    EXPECT_EQ(Value(record), values[i]);
    proglog_record_free(record);
  }
}

TEST_F(CapiTest, ConsumePastTheEndIsOutOfRangeWithAMessage) {
  proglog_record* record = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_consume(&record, client_, 5, &err), PROGLOG_EOUTOFRANGE);
  EXPECT_EQ(record, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_GT(std::strlen(proglog_error_message(err)), 0u);
  EXPECT_FALSE(proglog_error_retryable(err));
  proglog_error_free(err);
}

TEST_F(CapiTest, OversizedValueIsEtoolargeAndNothingIsLost) {
  uint64_t offset = 0;
  ASSERT_EQ(proglog_client_produce(&offset, client_, "kept", 4, nullptr), PROGLOG_OK);
  std::string big(4096, 'x');
  uint64_t ignored = 0;
  EXPECT_EQ(proglog_client_produce(&ignored, client_, big.data(), big.size(), nullptr),
            PROGLOG_ETOOLARGE);
  EXPECT_EQ(proglog_node_append(&ignored, node_, big.data(), big.size(), nullptr), PROGLOG_EINVAL);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_client_consume(&record, client_, offset, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "kept");
  proglog_record_free(record);
}

TEST_F(CapiTest, BatchWithOneValueTooLargeAppendsNothing) {
  const std::string big(4096, 'x');
  const void* values[] = {"p1", big.data(), "p3"};
  const size_t lens[] = {2, big.size(), 2};
  uint64_t offsets[3] = {};
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_produce_batch(offsets, client_, values, lens, 3, &err),
            PROGLOG_ETOOLARGE);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(proglog_error_written(err), 0u);
  EXPECT_STREQ(proglog_code_name(proglog_error_code(err)), "PROGLOG_ETOOLARGE");
  EXPECT_NE(std::string(proglog_error_message(err)).find("message too large"), std::string::npos)
      << proglog_error_message(err);
  proglog_error_free(err);
  // Nothing of the batch was appended: the next record gets offset 0.
  uint64_t offset = 99;
  ASSERT_EQ(proglog_client_produce(&offset, client_, "after", 5, nullptr), PROGLOG_OK);
  EXPECT_EQ(offset, 0u);
}

TEST_F(CapiTest, SubscriptionTimesOutThenFollowsTheTail) {
  proglog_subscription* sub = nullptr;
  ASSERT_EQ(proglog_client_subscribe(&sub, client_, 0, nullptr), PROGLOG_OK);
  proglog_record* record = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_subscription_next(&record, sub, 20, &err), PROGLOG_ETIMEOUT);
  EXPECT_TRUE(proglog_error_retryable(err));
  proglog_error_free(err);
  uint64_t offset = 0;
  ASSERT_EQ(proglog_client_produce(&offset, client_, "tail", 4, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_subscription_next(&record, sub, 5000, nullptr), PROGLOG_OK);
  EXPECT_EQ(Value(record), "tail");
  EXPECT_EQ(proglog_record_offset(record), offset);
  proglog_record_free(record);
  proglog_subscription_free(sub);
}

TEST_F(CapiTest, CancelFromAnotherThreadEndsABlockedNext) {
  proglog_subscription* sub = nullptr;
  ASSERT_EQ(proglog_client_subscribe(&sub, client_, 0, nullptr), PROGLOG_OK);
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    proglog_record* record = nullptr;
    rc = proglog_subscription_next(&record, sub, -1, nullptr);
  });
  proglog_subscription_cancel(sub);
  waiter.join();
  EXPECT_EQ(rc, PROGLOG_ECANCELLED);
  proglog_subscription_free(sub);
}

TEST_F(CapiTest, ClosedClientReportsEclosed) {
  proglog_client_close(client_);
  uint64_t offset = 0;
  EXPECT_EQ(proglog_client_produce(&offset, client_, "x", 1, nullptr), PROGLOG_ECLOSED);
}

TEST_F(CapiTest, ServersListsTheNode) {
  proglog_server_list* list = nullptr;
  ASSERT_EQ(proglog_client_servers(&list, client_, nullptr), PROGLOG_OK);
  ASSERT_EQ(proglog_server_list_count(list), 1u);
  EXPECT_STREQ(proglog_server_list_id(list, 0), "capi");
  EXPECT_STREQ(proglog_server_list_rpc_addr(list, 0), proglog_node_address(node_));
  EXPECT_EQ(proglog_server_list_id(list, 1), nullptr);
  proglog_server_list_free(list);
}

TEST_F(CapiTest, UnreachableServerIsRetryableEunavailable) {
  const std::string address = proglog_node_address(node_);
  ASSERT_EQ(proglog_node_close(node_, nullptr), PROGLOG_OK);
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_produce(&offset, client_, "x", 1, &err), PROGLOG_EUNAVAILABLE);
  EXPECT_TRUE(proglog_error_retryable(err));
  proglog_error_free(err);
}

}  // namespace
