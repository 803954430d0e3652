// The C library's logging: an embedded node with TLS, hit by clients that fail
// the handshake, writes nothing to the host's stdout or stderr, with or
// without a log handler; with one, the handler gets a "TLS handshake failed"
// warning naming the reason. Certificates are made by the `openssl` command.
// abseil's own messages take the same route.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "proglog/proglog.h"
#include "tests/testing/scratch_dir.h"

namespace {

namespace fs = std::filesystem;

constexpr char kEcKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

void OpenSsl(const fs::path& dir, const std::string& args) {
  const std::string command = "openssl " + args + " >'" + (dir / "openssl.log").string() + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

struct Record {
  int level;
  std::string message;
  std::map<std::string, std::string> fields;
};

struct Collected {
  std::mutex mu;
  std::vector<Record> records;
};

void Collect(void* user_data, int level, const char* message, const char* const* keys,
             const char* const* values, size_t field_count) {
  auto* collected = static_cast<Collected*>(user_data);
  Record record{level, message, {}};
  for (size_t i = 0; i < field_count; ++i) record.fields[keys[i]] = values[i];
  std::lock_guard<std::mutex> lock(collected->mu);
  collected->records.push_back(std::move(record));
}

// Points a standard descriptor at a file for the fixture's lifetime.
class Captured {
 public:
  Captured(int fd, const fs::path& file) : fd_(fd), saved_(::dup(fd)), file_(file) {
    std::fflush(nullptr);
    FILE* out = std::fopen(file.c_str(), "w");
    ::dup2(::fileno(out), fd);
    std::fclose(out);
  }
  ~Captured() { Restore(); }
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(nullptr);
    ::dup2(saved_, fd_);
    ::close(saved_);
    saved_ = -1;
  }
  std::string Text() const {
    std::ifstream in(file_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  int fd_, saved_;
  fs::path file_;
};

class CapiLoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string ca = (dir_ / "ca.pem").string(), ca_key = (dir_ / "ca-key.pem").string();
    OpenSsl(dir_, std::string("req -x509 ") + kEcKey + " -keyout " + ca_key + " -out " + ca +
                      " -days 1 -subj /CN=logging-ca -addext basicConstraints=critical,CA:TRUE"
                      " -addext keyUsage=critical,keyCertSign,cRLSign");
    const std::string stem = (dir_ / "server").string();
    OpenSsl(dir_, std::string("req -new ") + kEcKey + " -keyout " + stem + "-key.pem -out " + stem +
                      ".csr -subj /CN=server");
    std::ofstream(stem + ".ext") << "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                                    "subjectAltName=IP:127.0.0.1\n";
    OpenSsl(dir_, "x509 -req -in " + stem + ".csr -CA " + ca + " -CAkey " + ca_key +
                      " -CAcreateserial -days 1 -extfile " + stem + ".ext -out " + stem + ".pem");
    ca_file_ = ca;
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    const std::string data = (dir_ / "data").string(), cert = stem + ".pem",
                      key = stem + "-key.pem";
    opts.data_dir = data.c_str();
    opts.server_tls_cert_file = cert.c_str();
    opts.server_tls_key_file = key.c_str();
    opts.server_tls_ca_file = ca_file_.c_str();
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  }

  void TearDown() override {
    proglog_set_log_handler(nullptr, 0, nullptr);
    proglog_node_free(node_);
  }

  // A plaintext client and a TLS client without a certificate: both fail the
  // node's handshake (and the second its own side's too).
  void FailHandshakes() {
    const char* addresses[] = {proglog_node_address(node_)};
    for (int tls = 0; tls <= 1; ++tls) {
      proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
      opts.addresses = addresses;
      opts.address_count = 1;
      opts.timeout_ms = 5000;
      opts.tls = tls;
      opts.tls_ca_file = tls ? ca_file_.c_str() : nullptr;
      proglog_client* client = nullptr;
      ASSERT_EQ(proglog_client_open(&client, &opts, nullptr), PROGLOG_OK);
      uint64_t offset = 0;
      EXPECT_NE(proglog_client_produce(&offset, client, "x", 1, nullptr), PROGLOG_OK);
      proglog_client_free(client);
    }
  }

  ::proglog::testing::ScratchDir scratch_;  // destroyed after TearDown
  const fs::path dir_ = scratch_.path();
  std::string ca_file_;
  proglog_node* node_ = nullptr;
};

TEST_F(CapiLoggingTest, FailedHandshakesWriteNothingToStdoutOrStderr) {
  Captured out(STDOUT_FILENO, dir_ / "stdout.txt");
  Captured err(STDERR_FILENO, dir_ / "stderr.txt");
  FailHandshakes();  // no handler: the default drops every record
  Collected collected;
  ASSERT_EQ(proglog_set_log_handler(Collect, PROGLOG_LOG_INFO, &collected), PROGLOG_OK);
  FailHandshakes();
  // Records arrive on the library's thread; wait for the warning.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<Record> records;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(collected.mu);
      records = collected.records;
    }
    bool found = false;
    for (const Record& r : records) found |= r.message == "TLS handshake failed";
    if (found) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(proglog_set_log_handler(nullptr, 0, nullptr), PROGLOG_OK);
  out.Restore();
  err.Restore();
  EXPECT_EQ(out.Text(), "");
  EXPECT_EQ(err.Text(), "");
  const Record* warning = nullptr;
  for (const Record& r : records) {
    if (r.message == "TLS handshake failed") warning = &r;
  }
  ASSERT_NE(warning, nullptr) << records.size() << " records, none a failed handshake";
  EXPECT_EQ(warning->level, PROGLOG_LOG_WARN);
  EXPECT_FALSE(warning->fields.at("reason").empty());
  EXPECT_NE(warning->fields.at("grpc_message").find("Handshake failed"), std::string::npos);
}

// What abseil itself logs (ABSL_INTERNAL_LOG) is a record "abseil", not a line on stderr.
TEST(CapiAbseilLoggingTest, AbseilsOwnMessagesReachTheHandlerNotStderr) {
  const ::proglog::testing::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  Collected collected;
  ASSERT_EQ(proglog_set_log_handler(Collect, PROGLOG_LOG_DEBUG, &collected), PROGLOG_OK);
  Captured err(STDERR_FILENO, dir / "stderr.txt");
  ABSL_INTERNAL_LOG(WARNING, "abseil says hello");
  std::vector<Record> records;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (records.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard<std::mutex> lock(collected.mu);
    for (const Record& r : collected.records) {
      if (r.message == "abseil") records.push_back(r);
    }
  }
  ASSERT_EQ(proglog_set_log_handler(nullptr, 0, nullptr), PROGLOG_OK);
  err.Restore();
  EXPECT_EQ(err.Text(), "");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, PROGLOG_LOG_WARN);
  EXPECT_EQ(records[0].fields.at("absl_message"), "abseil says hello");
  EXPECT_NE(records[0].fields.at("source").find("capi_logging_test.cc:"), std::string::npos);
}

}  // namespace
