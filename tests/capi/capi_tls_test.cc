// The C API's TLS options against the real `proglog` server (PROGLOG_BIN) with
// mutual TLS and the original proglog's ACL, using certificates made by the
// `openssl` command line alone.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proglog/proglog.h"
#include "tests/capi/serving_process.h"
#include "tests/testing/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using proglog::capi::testing::ServingProcess;

constexpr char kModel[] =
    "[request_definition]\nr = sub, obj, act\n\n[policy_definition]\np = sub, obj, act\n\n"
    "[policy_effect]\ne = some(where (p.eft == allow))\n\n"
    "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";
constexpr char kPolicy[] = "p, root, *, produce\np, root, *, consume\n";
constexpr char kEcKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

void WriteFile(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Swaps the file's content in one step (a new file renamed over it), as
// editors do: the node's file watcher may reload at any moment, and a file
// rewritten in place can be read half-written (empty, say, which parses).
void ReplaceFile(const fs::path& path, const std::string& text) {
  const fs::path next = path.string() + ".next";
  WriteFile(next, text);
  fs::rename(next, path);
}

// Runs openssl with `args`; its output goes to a log file shown on failure.
void OpenSsl(const fs::path& dir, const std::string& args) {
  const std::string log = (dir / "openssl.log").string();
  const std::string command = "openssl " + args + " >'" + log + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

struct KeyPair {
  std::string cert, key;
};

KeyPair Issue(const fs::path& dir, const KeyPair& ca, const std::string& cn,
              const std::string& usage, const std::string& san) {
  const std::string stem = (dir / cn).string();
  KeyPair pair{stem + ".pem", stem + "-key.pem"};
  OpenSsl(dir, std::string("req -new ") + kEcKey + " -keyout " + pair.key + " -out " + stem +
                   ".csr -subj /CN=" + cn);
  std::string ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n";
  ext += "extendedKeyUsage=" + usage + "\n";
  if (!san.empty()) ext += "subjectAltName=" + san + "\n";
  WriteFile(stem + ".ext", ext);
  OpenSsl(dir, "x509 -req -in " + stem + ".csr -CA " + ca.cert + " -CAkey " + ca.key +
                   " -CAcreateserial -days 1 -extfile " + stem + ".ext -out " + pair.cert);
  return pair;
}

class CapiTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ::proglog::testing::ScratchDir("proglog-capi-tls");
    const fs::path& dir = scratch_->path();
    fs::create_directories(dir / "data");
    ca_ = {(dir / "ca.pem").string(), (dir / "ca-key.pem").string()};
    OpenSsl(dir, std::string("req -x509 ") + kEcKey + " -keyout " + ca_.key + " -out " + ca_.cert +
                     " -days 1 -subj /CN=capi-test-ca -addext basicConstraints=critical,CA:TRUE"
                     " -addext keyUsage=critical,keyCertSign,cRLSign");
    server_ = Issue(dir, ca_, "server", "serverAuth", "IP:127.0.0.1");
    const KeyPair& server = server_;
    root_ = Issue(dir, ca_, "root", "clientAuth", "");
    nobody_ = Issue(dir, ca_, "nobody", "clientAuth", "");
    WriteFile(dir / "model.conf", kModel);
    WriteFile(dir / "policy.csv", kPolicy);
    auto server_process = ServingProcess::Start({"serve",
                                                 "--bootstrap",
                                                 "--data-dir",
                                                 (dir / "data").string(),
                                                 "--rpc-port",
                                                 "0",
                                                 "--bind-addr",
                                                 "127.0.0.1:0",
                                                 "--node-name",
                                                 "capi-tls",
                                                 "--log-format",
                                                 "json",
                                                 "--server-tls-cert-file",
                                                 server.cert,
                                                 "--server-tls-key-file",
                                                 server.key,
                                                 "--server-tls-ca-file",
                                                 ca_.cert,
                                                 "--acl-model-file",
                                                 (dir / "model.conf").string(),
                                                 "--acl-policy-file",
                                                 (dir / "policy.csv").string()},
                                                (dir / "server.log").string());
    ASSERT_TRUE(server_process.ok()) << server_process.status();
    process_ = server_process->release();
    address_ = process_->rpc_addr();
  }

  static void TearDownTestSuite() {
    delete process_;
    process_ = nullptr;
    delete scratch_;
  }

  static proglog_client* Open(const KeyPair* who) {
    const char* addresses[] = {address_.c_str()};
    proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
    opts.addresses = addresses;
    opts.address_count = 1;
    opts.timeout_ms = 5000;
    opts.tls = 1;
    opts.tls_ca_file = ca_.cert.c_str();
    opts.tls_cert_file = who ? who->cert.c_str() : nullptr;
    opts.tls_key_file = who ? who->key.c_str() : nullptr;
    proglog_client* client = nullptr;
    proglog_error* err = nullptr;
    EXPECT_EQ(proglog_client_open(&client, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
    proglog_error_free(err);
    return client;
  }

  static inline ::proglog::testing::ScratchDir* scratch_ = nullptr;
  static inline ServingProcess* process_ = nullptr;  // the `proglog serve` under test
  static inline std::string address_;
  static inline KeyPair ca_, server_, root_, nobody_;
};

TEST_F(CapiTlsTest, RootProducesAndConsumes) {
  proglog_client* client = Open(&root_);
  ASSERT_NE(client, nullptr);
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_client_produce(&offset, client, "tls", 3, &err), PROGLOG_OK)
      << proglog_error_message(err);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_client_consume(&record, client, offset, &err), PROGLOG_OK)
      << proglog_error_message(err);
  size_t len = 0;
  const void* value = proglog_record_value(record, &len);
  EXPECT_EQ(std::string(static_cast<const char*>(value), len), "tls");
  EXPECT_EQ(proglog_record_offset(record), offset);
  proglog_record_free(record);
  proglog_client_free(client);
}

TEST_F(CapiTlsTest, NobodyIsPermissionDeniedWithItsSubjectNamed) {
  proglog_client* client = Open(&nobody_);
  ASSERT_NE(client, nullptr);
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_produce(&offset, client, "no", 2, &err), PROGLOG_EPERM);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(proglog_error_message(err)).find("nobody"), std::string::npos)
      << proglog_error_message(err);
  EXPECT_EQ(proglog_error_retryable(err), 0);
  proglog_error_free(err);
  err = nullptr;
  proglog_record* record = nullptr;
  EXPECT_EQ(proglog_client_consume(&record, client, 0, &err), PROGLOG_EPERM);
  EXPECT_EQ(record, nullptr);
  proglog_error_free(err);
  proglog_client_free(client);
}

TEST_F(CapiTlsTest, NoClientCertificateIsRefused) {
  proglog_client* client = Open(nullptr);
  ASSERT_NE(client, nullptr);
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  const int code = proglog_client_produce(&offset, client, "x", 1, &err);
  EXPECT_TRUE(code == PROGLOG_EUNAVAILABLE || code == PROGLOG_EUNAUTHENTICATED)
      << proglog_code_name(code) << ": " << proglog_error_message(err);
  proglog_error_free(err);
  proglog_client_free(client);
}

// An embedded node opened with version 3's TLS and ACL files serves what
// `proglog serve` does with the flags of the same names.
class CapiSecureNodeTest : public CapiTlsTest {
 protected:
  void TearDown() override {
    proglog_node_free(node_);
    fs::remove_all(scratch_->path() / "node");
  }

  proglog_node_options SecureOptions() {
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    data_dir_ = (scratch_->path() / "node").string();
    model_ = (scratch_->path() / "model.conf").string();
    policy_ = (scratch_->path() / "node-policy.csv").string();
    WriteFile(policy_, kPolicy);
    opts.data_dir = data_dir_.c_str();
    opts.durability = "never";
    opts.server_tls_cert_file = server_.cert.c_str();
    opts.server_tls_key_file = server_.key.c_str();
    opts.server_tls_ca_file = ca_.cert.c_str();
    opts.acl_model_file = model_.c_str();
    opts.acl_policy_file = policy_.c_str();
    return opts;
  }

  // A TLS client of the embedded node as `who`.
  proglog_client* OpenOnNode(const KeyPair& who) {
    const std::string saved = address_;
    address_ = proglog_node_address(node_);
    proglog_client* client = Open(&who);
    address_ = saved;
    return client;
  }

  proglog_node* node_ = nullptr;
  std::string data_dir_, model_, policy_;
};

TEST_F(CapiSecureNodeTest, ServesMutualTlsWithItsAclAndReloadsIt) {
  proglog_node_options opts = SecureOptions();
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  proglog_client* root = OpenOnNode(root_);
  proglog_client* nobody = OpenOnNode(nobody_);
  uint64_t offset = 0;
  ASSERT_EQ(proglog_client_produce(&offset, root, "secure", 6, &err), PROGLOG_OK)
      << proglog_error_message(err);
  EXPECT_EQ(proglog_client_produce(&offset, nobody, "no", 2, &err), PROGLOG_EPERM);
  proglog_error_free(err);
  err = nullptr;

  ReplaceFile(policy_, std::string(kPolicy) + "p, nobody, *, produce\n");
  ASSERT_EQ(proglog_node_reload_acl(node_, &err), PROGLOG_OK) << proglog_error_message(err);
  EXPECT_EQ(proglog_client_produce(&offset, nobody, "yes", 3, &err), PROGLOG_OK)
      << proglog_error_message(err);
  ReplaceFile(policy_, "p, nobody\n");  // does not parse
  EXPECT_EQ(proglog_node_reload_acl(node_, &err), PROGLOG_EINVAL);
  proglog_error_free(err);
  err = nullptr;
  EXPECT_EQ(proglog_client_produce(&offset, nobody, "still", 5, &err), PROGLOG_OK)
      << proglog_error_message(err);
  proglog_client_free(root);
  proglog_client_free(nobody);
}

TEST_F(CapiSecureNodeTest, PartialSetsAreEinvalNamingTheFieldBeforeTheDataDir) {
  proglog_node_options opts = SecureOptions();
  opts.server_tls_key_file = nullptr;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_EINVAL);
  EXPECT_NE(std::string(proglog_error_message(err)).find("server_tls_key_file"), std::string::npos)
      << proglog_error_message(err);
  proglog_error_free(err);
  err = nullptr;
  EXPECT_FALSE(fs::exists(data_dir_));

  opts = SecureOptions();
  opts.acl_policy_file = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_EINVAL);
  EXPECT_NE(std::string(proglog_error_message(err)).find("acl_policy_file"), std::string::npos);
  proglog_error_free(err);
}

// A caller compiled against version 2 has no security fields: whatever lies
// after its struct is not read, so its node stays plaintext.
TEST_F(CapiSecureNodeTest, VersionTwoCallersServePlaintext) {
  proglog_node_options opts = SecureOptions();
  opts.version = 2;
  opts.server_tls_key_file = "garbage that must not be read";
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_node_open(&node_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  const char* addresses[] = {proglog_node_address(node_)};
  proglog_client_options client_opts = PROGLOG_CLIENT_OPTIONS_INIT;
  client_opts.addresses = addresses;
  client_opts.address_count = 1;
  client_opts.timeout_ms = 5000;
  proglog_client* plain = nullptr;
  ASSERT_EQ(proglog_client_open(&plain, &client_opts, &err), PROGLOG_OK);
  uint64_t offset = 9;
  EXPECT_EQ(proglog_client_produce(&offset, plain, "plain", 5, &err), PROGLOG_OK)
      << proglog_error_message(err);
  EXPECT_EQ(offset, 0u);
  proglog_client_free(plain);
}

}  // namespace
