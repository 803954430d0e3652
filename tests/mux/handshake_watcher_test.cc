// The handshake watcher on real loopback TCP connections, with the server's
// side of each connection standing in for gRPC: a server-side shutdown names
// the client, a client that closed first names nobody, and the watched socket
// is never kept from closing once both sides are done with it.
#include "core/mux/handshake_watcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "core/mux/closing_peer.h"
#include "gtest/gtest.h"
#include "tests/testing/poll_until.h"

namespace proglog::mux::internal {
namespace {

using ::proglog::testing::PollUntil;

// One accepted loopback connection: `server` is what the mux hands to gRPC.
struct Connection {
  int server = -1;
  int client = -1;
  std::string client_address;  // "127.0.0.1:port", as the mux names peers

  Connection() {
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    close(listener);
    sockaddr_in local{};
    len = sizeof(local);
    EXPECT_EQ(getsockname(client, reinterpret_cast<sockaddr*>(&local), &len), 0);
    client_address = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  }
  ~Connection() {
    if (server >= 0) close(server);
    if (client >= 0) close(client);
  }
};

// The answer to one AwaitClosingPeer with a window of an hour: only a watcher's
// report, or the last watcher stopping, answers it.
class Answer {
 public:
  Answer() {
    ClosingPeers::Get().Await(
        [this](std::string peer) {
          absl::MutexLock lock(&mu_);
          peer_ = std::move(peer);
        },
        ClosingPeers::Clock::now() + std::chrono::hours(1));
  }
  std::optional<std::string> Get() {
    absl::MutexLock lock(&mu_);
    return peer_;
  }

 private:
  absl::Mutex mu_;
  std::optional<std::string> peer_;
};

std::unique_ptr<HandshakeWatcher> StartWatcher() {
  auto watcher = HandshakeWatcher::Start();
  EXPECT_TRUE(watcher.ok()) << watcher.status();
  return watcher.ok() ? *std::move(watcher) : nullptr;
}

TEST(HandshakeWatcher, AServerSideShutdownNamesTheClient) {
  std::unique_ptr<HandshakeWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  Connection c;
  ASSERT_TRUE(watcher->Add(c.server, c.client_address));
  ASSERT_TRUE(PollUntil([&] { return watcher->Watching() == 1; }));
  Answer answer;
  // What gRPC does to a connection whose handshake it refused.
  ASSERT_EQ(shutdown(c.server, SHUT_RDWR), 0);
  close(c.server);
  c.server = -1;
  EXPECT_TRUE(PollUntil([&] { return answer.Get().has_value(); }));
  EXPECT_EQ(answer.Get().value_or("(none)"), c.client_address);
  EXPECT_EQ(watcher->Watching(), 0u);
  // gRPC shut the connection down: the client reads end-of-file.
  char byte;
  EXPECT_EQ(recv(c.client, &byte, 1, 0), 0);
}

TEST(HandshakeWatcher, AClientThatClosedFirstNamesNobody) {
  std::unique_ptr<HandshakeWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  Connection c;
  ASSERT_TRUE(watcher->Add(c.server, c.client_address));
  ASSERT_TRUE(PollUntil([&] { return watcher->Watching() == 1; }));
  close(c.client);
  c.client = -1;
  ASSERT_TRUE(PollUntil([&] { return watcher->Watching() == 0; }));
  Answer answer;
  ASSERT_EQ(shutdown(c.server, SHUT_RDWR), 0);  // gRPC reads the end and closes
  // Stopping the only watcher answers every waiter with nobody.
  watcher->Stop();
  ASSERT_TRUE(answer.Get().has_value());
  EXPECT_EQ(*answer.Get(), "");
}

TEST(HandshakeWatcher, ItWatchesADuplicateAndLeavesTheSocketToItsOwner) {
  std::unique_ptr<HandshakeWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  Connection c;
  ASSERT_TRUE(watcher->Add(c.server, c.client_address));
  ASSERT_TRUE(PollUntil([&] { return watcher->Watching() == 1; }));
  // Data in both directions wakes nothing and is untouched by the watcher.
  ASSERT_EQ(send(c.client, "ping", 4, MSG_NOSIGNAL), 4);
  char got[4];
  ASSERT_EQ(recv(c.server, got, sizeof(got), MSG_WAITALL), 4);
  EXPECT_EQ(std::string(got, 4), "ping");
  EXPECT_EQ(watcher->Watching(), 1u);  // still watched: data is no hang-up
  // Stopping the watcher drops its duplicate; the owner's socket still works.
  watcher->Stop();
  EXPECT_EQ(watcher->Watching(), 0u);
  ASSERT_EQ(send(c.server, "pong", 4, MSG_NOSIGNAL), 4);
  ASSERT_EQ(recv(c.client, got, sizeof(got), MSG_WAITALL), 4);
  EXPECT_EQ(std::string(got, 4), "pong");
  EXPECT_FALSE(watcher->Add(c.server, c.client_address));  // stopped
}

}  // namespace
}  // namespace proglog::mux::internal
