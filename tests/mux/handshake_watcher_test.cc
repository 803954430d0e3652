// The handshake watcher on real loopback TCP connections, with the server's
// side of each connection standing in for gRPC: a server-side shutdown names
// the client (also when the client's late bytes made it a reset), a client that
// closed first names nobody, and the watched socket is never kept from closing
// once both sides are done with it.
#include "core/mux/handshake_watcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iterator>
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

// The TCP state of `fd` (TCP_ESTABLISHED, ...), read without disturbing it.
int TcpState(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  return info.tcpi_state;
}

// Descriptors this process has open: the watcher's duplicate counts while it lives.
size_t OpenDescriptors() {
  const std::filesystem::directory_iterator fds("/proc/self/fd");
  return static_cast<size_t>(std::distance(begin(fds), end(fds)));
}

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

// A started watcher, and connections it watches.
class HandshakeWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto watcher = HandshakeWatcher::Start();
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }

  // Hands `c` to the watcher as the mux does, and waits until it is watched.
  void Watch(const Connection& c, uint64_t* id = nullptr) {
    const uint64_t watch = watcher_->Add(c.server, c.client_address);
    ASSERT_NE(watch, 0u);
    ASSERT_TRUE(PollUntil([&] { return watcher_->Watching() == 1; }));
    if (id != nullptr) *id = watch;
  }

  // Hands `c` to the watcher when its socket has already hung up, as a watcher
  // that had no time to look yet finds it, and waits until the watch is over.
  void WatchAfterTheFact(const Connection& c) {
    const size_t before = OpenDescriptors();
    ASSERT_NE(watcher_->Add(c.server, c.client_address), 0u);
    ASSERT_TRUE(PollUntil([&] { return OpenDescriptors() == before; }));  // duplicate closed
  }

  std::unique_ptr<HandshakeWatcher> watcher_;
};

TEST_F(HandshakeWatcherTest, AServerSideShutdownNamesTheClient) {
  Connection c;
  ASSERT_NO_FATAL_FAILURE(Watch(c));
  Answer answer;
  // What gRPC does to a connection whose handshake it refused.
  ASSERT_EQ(shutdown(c.server, SHUT_RDWR), 0);
  close(c.server);
  c.server = -1;
  EXPECT_TRUE(PollUntil([&] { return answer.Get().has_value(); }));
  EXPECT_EQ(answer.Get().value_or("(none)"), c.client_address);
  EXPECT_EQ(watcher_->Watching(), 0u);
  // gRPC shut the connection down: the client reads end-of-file.
  char byte;
  EXPECT_EQ(recv(c.client, &byte, 1, 0), 0);
}

TEST_F(HandshakeWatcherTest, AClientThatClosedFirstNamesNobody) {
  Connection c;
  ASSERT_NO_FATAL_FAILURE(Watch(c));
  close(c.client);
  c.client = -1;
  ASSERT_TRUE(PollUntil([&] { return watcher_->Watching() == 0; }));
  Answer answer;
  ASSERT_EQ(shutdown(c.server, SHUT_RDWR), 0);  // gRPC reads the end and closes
  // Stopping the only watcher answers every waiter with nobody.
  watcher_->Stop();
  ASSERT_TRUE(answer.Get().has_value());
  EXPECT_EQ(*answer.Get(), "");
}

TEST_F(HandshakeWatcherTest, AShutdownTheClientAnsweredWithBytesNamesTheClient) {
  Connection c;
  Answer answer;
  ASSERT_EQ(shutdown(c.server, SHUT_RDWR), 0);
  // Bytes that arrive after the shutdown make the server's side reset.
  ASSERT_EQ(send(c.client, "late", 4, MSG_NOSIGNAL), 4);
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.server) == TCP_CLOSE; }));
  ASSERT_NO_FATAL_FAILURE(WatchAfterTheFact(c));
  EXPECT_EQ(answer.Get().value_or("(none)"), c.client_address);
}

// A client that refuses our certificate sends its alert and resets at once: the
// reset can reach the watcher before gRPC has read the alert and logged.
TEST_F(HandshakeWatcherTest, AResetSeenBeforeTheFailureIsLoggedNamesTheClient) {
  Connection c;
  // The client closes with the server's bytes unread, which resets.
  ASSERT_EQ(send(c.server, "unread", 6, MSG_NOSIGNAL), 6);
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.client) == TCP_ESTABLISHED; }));
  close(c.client);
  c.client = -1;
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.server) == TCP_CLOSE; }));
  ASSERT_NO_FATAL_FAILURE(WatchAfterTheFact(c));
  std::string named = "(none)";
  // gRPC logs now: the answer comes at once (Answer's hour-long window would
  // start an hour from now, past the reset's).
  ClosingPeers::Get().Await([&](std::string peer) { named = std::move(peer); },
                            ClosingPeers::Clock::now());
  EXPECT_EQ(named, c.client_address);
}

TEST_F(HandshakeWatcherTest, AResetOfAConnectionTheClientHadClosedNamesNobody) {
  Connection c;
  ASSERT_EQ(shutdown(c.client, SHUT_WR), 0);  // the client's FIN first
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.server) == TCP_CLOSE_WAIT; }));
  // The server writes; the client closes without reading, which resets.
  ASSERT_EQ(send(c.server, "unread", 6, MSG_NOSIGNAL), 6);
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.client) == TCP_FIN_WAIT2; }));
  close(c.client);
  c.client = -1;
  ASSERT_TRUE(PollUntil([&] { return TcpState(c.server) == TCP_CLOSE; }));
  Answer answer;
  ASSERT_NO_FATAL_FAILURE(WatchAfterTheFact(c));
  EXPECT_FALSE(answer.Get().has_value());
  watcher_->Stop();  // the only watcher: its waiters hear "nobody"
  EXPECT_EQ(answer.Get().value_or("(none)"), "");
}

// What the mux does when gRPC refuses the socket it was handed: the owner's
// close must end the connection at once, not when the watch runs out.
TEST_F(HandshakeWatcherTest, ACancelledWatchLeavesTheOwnersCloseToEndTheConnection) {
  Connection c;
  uint64_t id = 0;
  ASSERT_NO_FATAL_FAILURE(Watch(c, &id));
  Answer answer;
  watcher_->Cancel(id);
  close(c.server);
  c.server = -1;
  timeval timeout{.tv_sec = 5, .tv_usec = 0};  // half of what the watch would last
  ASSERT_EQ(setsockopt(c.client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
  char byte;
  EXPECT_EQ(recv(c.client, &byte, 1, 0), 0);  // end-of-file, not a timeout
  EXPECT_TRUE(PollUntil([&] { return watcher_->Watching() == 0; }));
  EXPECT_FALSE(answer.Get().has_value());  // a cancelled watch names nobody
  watcher_->Cancel(id);                    // again: ignored
}

TEST_F(HandshakeWatcherTest, ItWatchesADuplicateAndLeavesTheSocketToItsOwner) {
  Connection c;
  ASSERT_NO_FATAL_FAILURE(Watch(c));
  // Data in both directions wakes nothing and is untouched by the watcher.
  ASSERT_EQ(send(c.client, "ping", 4, MSG_NOSIGNAL), 4);
  char got[4];
  ASSERT_EQ(recv(c.server, got, sizeof(got), MSG_WAITALL), 4);
  EXPECT_EQ(std::string(got, 4), "ping");
  EXPECT_EQ(watcher_->Watching(), 1u);  // still watched: data is no hang-up
  // Stopping the watcher drops its duplicate; the owner's socket still works.
  watcher_->Stop();
  EXPECT_EQ(watcher_->Watching(), 0u);
  ASSERT_EQ(send(c.server, "pong", 4, MSG_NOSIGNAL), 4);
  ASSERT_EQ(recv(c.client, got, sizeof(got), MSG_WAITALL), 4);
  EXPECT_EQ(std::string(got, 4), "pong");
  EXPECT_EQ(watcher_->Add(c.server, c.client_address), 0u);  // stopped
}

}  // namespace
}  // namespace proglog::mux::internal
