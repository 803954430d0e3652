// Tests of core/node: a real log on disk served over a real gRPC channel.
#include "core/node/node.h"

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "log/v1/log.grpc.pb.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node {
namespace {

using ::testing::HasSubstr;

using ::proglog::testing::PollUntil;

class NodeTest : public ::testing::Test {
 protected:
  Config MakeConfig() {
    Config config;
    config.data_dir = dir_ / "data";
    config.node_name = "n1";
    config.log.durability.mode = log::Durability::Mode::kNever;
    return config;
  }

  static std::unique_ptr<logpb::v1::Log::Stub> Connect(const Node& node) {
    return logpb::v1::Log::NewStub(
        grpc::CreateChannel(node.RpcAddress(), grpc::InsecureChannelCredentials()));
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
};

TEST_F(NodeTest, ServesLocalAppendsOverGrpcAndKeepsThemAcrossRestart) {
  {
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(MakeConfig());
    ASSERT_TRUE(node.ok()) << node.status();
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<uint64_t> offset = (*node)->Append(absl::StrCat("local-", i));
      ASSERT_TRUE(offset.ok()) << offset.status();
      EXPECT_EQ(*offset, static_cast<uint64_t>(i));
    }
    auto stub = Connect(**node);
    grpc::ClientContext context;
    logpb::v1::ConsumeRequest request;
    request.set_offset(49);
    logpb::v1::ConsumeResponse response;
    ASSERT_TRUE(stub->Consume(&context, request, &response).ok());
    EXPECT_EQ(response.record().value(), "local-49");
    ASSERT_TRUE((*node)->Close().ok());
  }
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(MakeConfig());
  ASSERT_TRUE(node.ok()) << node.status();
  absl::StatusOr<log::Record> record = (*node)->Read(17);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "local-17");
  auto stub = Connect(**node);
  grpc::ClientContext context;
  logpb::v1::ProduceRequest request;
  request.mutable_record()->set_value("remote");
  logpb::v1::ProduceResponse response;
  ASSERT_TRUE(stub->Produce(&context, request, &response).ok());
  EXPECT_EQ(response.offset(), 50u);
}

TEST_F(NodeTest, GetServersNamesThisNodeAtItsAddress) {
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(MakeConfig());
  ASSERT_TRUE(node.ok()) << node.status();
  auto stub = Connect(**node);
  grpc::ClientContext context;
  logpb::v1::GetServersResponse response;
  ASSERT_TRUE(stub->GetServers(&context, logpb::v1::GetServersRequest(), &response).ok());
  ASSERT_EQ(response.servers_size(), 1);
  EXPECT_EQ(response.servers(0).id(), "n1");
  EXPECT_EQ(response.servers(0).rpc_addr(), (*node)->RpcAddress());
  EXPECT_TRUE(response.servers(0).is_leader());
}

TEST_F(NodeTest, DataDirThatIsAFileIsAClearError) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "plain-file") << "not a directory";
  Config config = MakeConfig();
  config.data_dir = dir_ / "plain-file";
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(config);
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(node.status().message(), HasSubstr((dir_ / "plain-file").string()));
}

TEST_F(NodeTest, DataDirUnderAFileCannotBeCreated) {
  std::ofstream(dir_ / "plain-file") << "x";
  Config config = MakeConfig();
  config.data_dir = dir_ / "plain-file" / "data";
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(config);
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(node.status().message(), HasSubstr("cannot create data dir"));
}

TEST_F(NodeTest, PortInUseIsUnavailable) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  Config config = MakeConfig();
  config.rpc_port = ntohs(address.sin_port);
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(config);
  ::close(fd);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(NodeTest, PortHeldByAnotherNodeIsUnavailable) {
  absl::StatusOr<std::unique_ptr<Node>> first = Node::Open(MakeConfig());
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string address = (*first)->RpcAddress();
  Config config = MakeConfig();
  config.data_dir = dir_ / "second";
  config.rpc_port = std::stoi(address.substr(address.rfind(':') + 1));
  absl::StatusOr<std::unique_ptr<Node>> second = Node::Open(config);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE((*first)->Close().ok());
}

TEST_F(NodeTest, CloseIsIdempotentAndLaterCallsFail) {
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(MakeConfig());
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->Append("x").ok());
  EXPECT_TRUE((*node)->Close().ok());
  EXPECT_TRUE((*node)->Close().ok());
  EXPECT_EQ((*node)->Append("y").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*node)->Read(0).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(NodeTest, CloseEndsATailingStreamWithOkAndStopsServing) {
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(MakeConfig());
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->Append("first").ok());
  auto stub = Connect(**node);
  grpc::ClientContext context;
  auto stream = stub->ConsumeStream(&context, logpb::v1::ConsumeRequest());
  logpb::v1::ConsumeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.record().value(), "first");
  std::thread closer([&] { EXPECT_TRUE((*node)->Close().ok()); });
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  closer.join();
  grpc::ClientContext late;
  late.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  logpb::v1::ProduceRequest request;
  request.mutable_record()->set_value("late");
  logpb::v1::ProduceResponse ignored;
  EXPECT_EQ(stub->Produce(&late, request, &ignored).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(NodeTest, RetentionRemovesOldSegmentsInTheBackground) {
  Config config = MakeConfig();
  config.log.max_store_bytes = 4096;
  config.log.retention_bytes = uint64_t{16} * 1024;
  config.retention_interval = std::chrono::milliseconds(20);
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(config);
  ASSERT_TRUE(node.ok()) << node.status();
  const std::string value(500, 'r');
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*node)->Append(value).ok());
  // About 100 KB were written; retention keeps roughly the newest 16 KB.
  EXPECT_TRUE(PollUntil([&] { return absl::IsOutOfRange((*node)->Read(0).status()); }));
  absl::StatusOr<log::Record> newest = (*node)->Read(199);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->value, value);
}

}  // namespace
}  // namespace proglog::node
