// One gRPC channel (and its log.v1 stubs) per server address, made on first use
// with the client's credentials and limits, and kept until Close. A call holds
// its stub, and with it the channel, until it ends: a subscription keeps its
// stub until its stream has ended, even after Close.
#ifndef PROGLOG_CORE_CLIENT_CHANNEL_POOL_H_
#define PROGLOG_CORE_CLIENT_CHANNEL_POOL_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/client/client.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::client {

// Room for the envelope of a record (offset, term, type, framing) above the
// maximum value size, in the receive limit.
inline constexpr uint64_t kEnvelopeSlack = 64 << 10;

class ChannelPool {
 public:
  // Reads the TLS files; InvalidArgument or NotFound when they are unusable.
  static absl::StatusOr<std::unique_ptr<ChannelPool>> Create(const Options& options);

  // The stub for "host:port", made on first use. Thread-safe.
  std::shared_ptr<logpb::v1::Log::Stub> Stub(const std::string& address);
  // The log.v1.Batch stub for "host:port", on the same channel.
  std::shared_ptr<logpb::v1::Batch::Stub> BatchStub(const std::string& address);
  // The channel to "host:port", made on first use.
  std::shared_ptr<grpc::Channel> Channel(const std::string& address);
  // Drops every channel, so idle connections close now rather than when the
  // client is freed. Stubs asked for later are not kept.
  void Close();

 private:
  struct Entry {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<logpb::v1::Log::Stub> stub;
    std::shared_ptr<logpb::v1::Batch::Stub> batch;
  };
  ChannelPool(std::shared_ptr<grpc::ChannelCredentials> credentials, grpc::ChannelArguments args)
      : credentials_(std::move(credentials)), args_(std::move(args)) {}
  Entry Get(const std::string& address);

  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const grpc::ChannelArguments args_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_CHANNEL_POOL_H_
