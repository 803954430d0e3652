// proglog_call_options' trace context (version 2) against the real `proglog`
// server (PROGLOG_BIN) exporting its spans to an OTLP/HTTP receiver in this
// test: the server span of a call continues the caller's trace. Also the JSON
// log keys every line of a node carries.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "nlohmann/json.hpp"
#include "proglog/proglog.h"
#include "tests/capi/serving_process.h"
#include "tests/testing/otlp_receiver.h"
#include "tests/testing/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using proglog::capi::testing::ServingProcess;
using proglog::testing::OtlpReceiver;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCallerSpanId[] = "00f067aa0ba902b7";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class CapiTraceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    receiver_ = new OtlpReceiver();
    scratch_ = new ::proglog::testing::ScratchDir("proglog-capi-trace");
    StartServer();
  }

  static void TearDownTestSuite() {
    delete process_;
    process_ = nullptr;
    delete scratch_;
    delete receiver_;
  }

  // Starts the server exporting to the receiver, and keeps its `serving` line.
  static void StartServer() {
    auto process = ServingProcess::Start(
        {"serve", "--bootstrap", "--data-dir", (scratch_->path() / "data").string(), "--rpc-port",
         "0", "--bind-addr", "127.0.0.1:0", "--node-name", "capi-trace", "--log-format", "json",
         "--otel-exporter-otlp-endpoint", receiver_->Endpoint()},
        (scratch_->path() / "server.log").string());
    ASSERT_TRUE(process.ok()) << process.status();
    process_ = process->release();
    serving_ = process_->serving();
  }

  void SetUp() override {
    const std::string address = serving_["rpc_addr"];
    const char* addresses[] = {address.c_str()};
    proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
    opts.addresses = addresses;
    opts.address_count = 1;
    opts.timeout_ms = 5000;
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_client_open(&client_, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  }
  void TearDown() override { proglog_client_free(client_); }

  static inline OtlpReceiver* receiver_ = nullptr;
  static inline ::proglog::testing::ScratchDir* scratch_ = nullptr;
  static inline ServingProcess* process_ = nullptr;  // the `proglog serve` under test
  static inline json serving_;
  proglog_client* client_ = nullptr;
};

TEST_F(CapiTraceTest, ProduceExContinuesTheCallersTraceAtTheServer) {
  proglog_call_options call = PROGLOG_CALL_OPTIONS_INIT;
  call.traceparent = kTraceparent;
  call.tracestate = "vendor=value";
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_client_produce_ex(&offset, client_, "traced", 6, &call, &err), PROGLOG_OK)
      << proglog_error_message(err);
  json span = receiver_->WaitFor(kTraceId, "log.v1.Log/Produce");
  ASSERT_FALSE(span.is_null()) << "no Produce span in the caller's trace";
  EXPECT_EQ(span["parentSpanId"], kCallerSpanId);
  EXPECT_EQ(span["traceState"], "vendor=value");
}

TEST_F(CapiTraceTest, AMalformedTraceContextIsEinvalNamingTheField) {
  struct Case {
    const char* traceparent;
    const char* tracestate;
    const char* field;
  };
  for (const Case& bad : {Case{"00-not-a-traceparent", nullptr, "traceparent"},
                          Case{kTraceparent, "bad\tvalue", "tracestate"},
                          Case{nullptr, "vendor=value", "tracestate"}}) {
    proglog_call_options call = PROGLOG_CALL_OPTIONS_INIT;
    call.traceparent = bad.traceparent;
    call.tracestate = bad.tracestate;
    proglog_server_list* list = nullptr;
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_client_servers_ex(&list, client_, &call, &err), PROGLOG_EINVAL);
    EXPECT_NE(std::string(proglog_error_message(err)).find(bad.field), std::string::npos)
        << proglog_error_message(err);
    EXPECT_EQ(list, nullptr);
    proglog_error_free(err);
  }
}

// A caller compiled against version 1 has no trace fields: whatever lies after
// its struct is not read, so its call goes out without a trace context.
TEST_F(CapiTraceTest, VersionOneCallersSendNoTraceContext) {
  proglog_call_options call = PROGLOG_CALL_OPTIONS_INIT;
  call.version = 1;
  call.traceparent = "garbage that must not be read";
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_produce_ex(&offset, client_, "v1", 2, &call, &err), PROGLOG_OK)
      << proglog_error_message(err);
  proglog_error_free(err);
}

TEST_F(CapiTraceTest, JsonLogLinesCarryTheStableKeys) {
  for (const char* key : {"ts", "level", "node", "msg"}) {
    EXPECT_TRUE(serving_.contains(key)) << key << " missing in " << serving_.dump();
  }
  EXPECT_EQ(serving_["node"], "capi-trace");
  EXPECT_FALSE(serving_.contains("time")) << serving_.dump();
}

}  // namespace
