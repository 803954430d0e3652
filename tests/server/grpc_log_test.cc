#include "core/server/grpc_log.h"

#include <gtest/gtest.h>

#include <string>

#include "core/telemetry/metrics.h"

namespace proglog::server {
namespace {

gpr_log_func_args Line(const char* message, gpr_log_severity severity = GPR_LOG_SEVERITY_ERROR) {
  gpr_log_func_args args{};
  args.file = "ssl_transport_security.cc";
  args.line = 1;
  args.severity = severity;
  args.message = message;
  return args;
}

constexpr char kNoCertificate[] =
    "Handshake failed with fatal error SSL_ERROR_SSL: error:0A0000C7:SSL "
    "routines::peer did not return a certificate.";

uint64_t HandshakeFailures(const char* reason) {
  return telemetry::DefaultRegistry()
      ->GetCounter("proglog_tls_handshake_failures_total",
                   "TLS handshakes gRPC failed (mostly clients refused), by reason.",
                   {{"reason", reason}})
      ->Value();
}

TEST(GrpcLogTest, AFailedHandshakeIsOneWarningWithOpenSslsReason) {
  const GrpcLogEvent event = InterpretGrpcLogLine(Line(kNoCertificate));
  EXPECT_EQ(event.level, spdlog::level::warn);
  EXPECT_EQ(event.message, "TLS handshake failed");
  ASSERT_FALSE(event.fields.empty());
  EXPECT_EQ(event.fields[0], std::make_pair(std::string("reason"),
                                            std::string("peer did not return a certificate")));
}

TEST(GrpcLogTest, OtherLinesKeepTheirSeverityAndSource) {
  const GrpcLogEvent event = InterpretGrpcLogLine(Line("connection reset", GPR_LOG_SEVERITY_INFO));
  EXPECT_EQ(event.level, spdlog::level::info);
  EXPECT_EQ(event.message, "grpc");
}

TEST(GrpcLogTest, HandshakeReasonsFallIntoFewClasses) {
  EXPECT_EQ(HandshakeFailureClass("peer did not return a certificate"), "no_certificate");
  EXPECT_EQ(HandshakeFailureClass("tlsv13 alert certificate required"), "no_certificate");
  EXPECT_EQ(HandshakeFailureClass("certificate verify failed"), "untrusted_certificate");
  EXPECT_EQ(HandshakeFailureClass("tlsv1 alert unknown ca"), "untrusted_certificate");
  EXPECT_EQ(HandshakeFailureClass("sslv3 alert certificate expired"), "expired_certificate");
  EXPECT_EQ(HandshakeFailureClass("wrong version number"), "protocol");
  EXPECT_EQ(HandshakeFailureClass("http request"), "protocol");
  EXPECT_EQ(HandshakeFailureClass("something new from OpenSSL"), "other");
}

TEST(GrpcLogTest, CountingIsByClassAndIgnoresOtherLines) {
  const uint64_t before = HandshakeFailures("no_certificate");
  const uint64_t other_before = HandshakeFailures("other");
  CountGrpcLogLine(Line(kNoCertificate));
  CountGrpcLogLine(Line(kNoCertificate));
  CountGrpcLogLine(Line("connection reset"));
  EXPECT_EQ(HandshakeFailures("no_certificate"), before + 2);
  EXPECT_EQ(HandshakeFailures("other"), other_before);
}

}  // namespace
TEST(GrpcLogTest, AbseilsMessagesKeepTheirSeverityAndSource) {
  const GrpcLogEvent warning =
      InterpretAbseilLogLine(absl::LogSeverity::kWarning, "cord.cc", 12, "odd cord");
  EXPECT_EQ(warning.level, spdlog::level::warn);
  EXPECT_EQ(warning.message, "abseil");
  EXPECT_EQ(warning.fields, (std::vector<std::pair<std::string, std::string>>{
                                {"absl_message", "odd cord"}, {"source", "cord.cc:12"}}));
  EXPECT_FALSE(warning.names_a_peer);
  EXPECT_EQ(InterpretAbseilLogLine(absl::LogSeverity::kError, nullptr, 0, "x").level,
            spdlog::level::err);
  EXPECT_EQ(InterpretAbseilLogLine(absl::LogSeverity::kFatal, "f", 1, "x").level,
            spdlog::level::critical);
}

}  // namespace proglog::server
