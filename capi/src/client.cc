// The C API's client functions: thin wrappers over proglog::client::Client.
#include "core/client/client.h"

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "capi/src/capi_internal.h"

struct proglog_client {
  std::unique_ptr<proglog::client::Client> client;
};

struct proglog_subscription {
  std::unique_ptr<proglog::client::Subscription> subscription;
};

struct proglog_server_list {
  std::vector<proglog::client::Server> servers;
};

struct proglog_cancel {
  std::shared_ptr<proglog::client::Cancellation> cancellation =
      std::make_shared<proglog::client::Cancellation>();
};

namespace proglog::capi {
namespace {

int NullHandle(proglog_error** err) { return Fail(PROGLOG_EINVAL, "client is NULL", err); }

absl::StatusOr<client::Options> ToOptions(const proglog_client_options& in) {
  client::Options options;
  if (in.addresses == nullptr || in.address_count == 0) {
    return absl::InvalidArgumentError("at least one server address is required");
  }
  for (size_t i = 0; i < in.address_count; ++i) {
    if (in.addresses[i] == nullptr) return absl::InvalidArgumentError("a server address is NULL");
    options.addresses.emplace_back(in.addresses[i]);
  }
  // Zero keeps the core's default, set in client::Options.
  if (in.timeout_ms != 0) {
    options.call_timeout = std::chrono::milliseconds(std::max<int64_t>(in.timeout_ms, 0));
  }
  switch (in.balance_policy) {
    case PROGLOG_BALANCE_DEFAULT:
      break;
    case PROGLOG_BALANCE_FOLLOWER_READS:
      options.policy = client::BalancePolicy::kFollowerReads;
      break;
    case PROGLOG_BALANCE_LEADER:
      options.policy = client::BalancePolicy::kLeader;
      break;
    case PROGLOG_BALANCE_PINNED:
      options.policy = client::BalancePolicy::kPinned;
      break;
    default:
      return absl::InvalidArgumentError("unknown balance_policy");
  }
  if (in.refresh_interval_ms != 0) {
    options.refresh_interval =
        std::chrono::milliseconds(std::max<int64_t>(in.refresh_interval_ms, 0));
  }
  if (in.max_attempts < 0) return absl::InvalidArgumentError("max_attempts must not be negative");
  if (in.max_attempts > 0) options.retry.max_attempts = in.max_attempts;
  if (in.initial_backoff_ms < 0 || in.max_backoff_ms < 0) {
    return absl::InvalidArgumentError("initial_backoff_ms and max_backoff_ms must not be negative");
  }
  if (in.initial_backoff_ms > 0) {
    options.retry.initial_backoff = std::chrono::milliseconds(in.initial_backoff_ms);
  }
  if (in.max_backoff_ms > 0)
    options.retry.max_backoff = std::chrono::milliseconds(in.max_backoff_ms);
  options.tls.enabled = in.tls != 0;
  if (in.tls_ca_file) options.tls.ca_file = in.tls_ca_file;
  if (in.tls_cert_file) options.tls.cert_file = in.tls_cert_file;
  if (in.tls_key_file) options.tls.key_file = in.tls_key_file;
  if (in.tls_server_name) options.tls.server_name = in.tls_server_name;
  return options;
}

// The core's per-call settings for `in` (NULL: the client's); EINVAL on a bad
// struct.
int ToCallOptions(const proglog_call_options* in, client::CallOptions* out, proglog_error** err) {
  *out = client::CallOptions{};
  if (in == nullptr) return PROGLOG_OK;
  proglog_call_options call;
  if (int rc = ReadOptions(in, kCallOptionsSizes, &call, err)) return rc;
  if (call.timeout_ms != 0) {
    out->timeout = std::chrono::milliseconds(std::max<int64_t>(call.timeout_ms, 0));
  }
  if (call.cancel != nullptr) out->cancel = call.cancel->cancellation;
  // The core client checks them (naming the field) before anything is sent.
  if (call.traceparent != nullptr) out->traceparent = call.traceparent;
  if (call.tracestate != nullptr) out->tracestate = call.tracestate;
  return PROGLOG_OK;
}

proglog_record* NewRecord(client::Record record) {
  auto* out = new proglog_record;
  out->value = std::move(record.value);
  out->offset = record.offset;
  return out;
}

}  // namespace
}  // namespace proglog::capi

using proglog::capi::Fail;
using proglog::capi::Guard;

extern "C" {

int proglog_client_options_init(proglog_client_options* opts, unsigned int version) {
  return proglog::capi::InitOptions(opts, version, proglog::capi::kClientOptionsSizes);
}

int proglog_client_open(proglog_client** out, const proglog_client_options* opts,
                        proglog_error** err) {
  return Guard(err, [&] {
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    proglog_client_options in;
    if (int rc = proglog::capi::ReadOptions(opts, proglog::capi::kClientOptionsSizes, &in, err)) {
      return rc;
    }
    auto options = proglog::capi::ToOptions(in);
    if (!options.ok()) return Fail(options.status(), err);
    proglog::capi::PrepareProcess();
    auto client = proglog::client::Client::Open(*std::move(options));
    if (!client.ok()) return Fail(client.status(), err);
    *out = new proglog_client{*std::move(client)};
    return int{PROGLOG_OK};
  });
}

int proglog_cancel_new(proglog_cancel** out, proglog_error** err) {
  return Guard(err, [&] {
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = new proglog_cancel;
    return int{PROGLOG_OK};
  });
}

void proglog_cancel_trigger(proglog_cancel* cancel) {
  if (cancel != nullptr) cancel->cancellation->Cancel();
}

void proglog_cancel_free(proglog_cancel* cancel) { delete cancel; }

int proglog_client_produce(uint64_t* out_offset, proglog_client* client, const void* value,
                           size_t len, proglog_error** err) {
  return proglog_client_produce_ex(out_offset, client, value, len, nullptr, err);
}

int proglog_client_produce_ex(uint64_t* out_offset, proglog_client* client, const void* value,
                              size_t len, const proglog_call_options* call, proglog_error** err) {
  return Guard(err, [&] {
    if (client == nullptr) return proglog::capi::NullHandle(err);
    if (out_offset == nullptr || (value == nullptr && len > 0)) {
      return Fail(PROGLOG_EINVAL, "out_offset and value must not be NULL", err);
    }
    proglog::client::CallOptions options;
    if (int rc = proglog::capi::ToCallOptions(call, &options, err)) return rc;
    auto offset =
        client->client->Produce(std::string_view(static_cast<const char*>(value), len), options);
    if (!offset.ok()) return Fail(offset.status(), err);
    *out_offset = *offset;
    return int{PROGLOG_OK};
  });
}

int proglog_client_produce_batch(uint64_t* out_offsets, proglog_client* client,
                                 const void* const* values, const size_t* lens, size_t count,
                                 proglog_error** err) {
  return proglog_client_produce_batch_ex(out_offsets, client, values, lens, count, nullptr, err);
}

int proglog_client_produce_batch_ex(uint64_t* out_offsets, proglog_client* client,
                                    const void* const* values, const size_t* lens, size_t count,
                                    const proglog_call_options* call, proglog_error** err) {
  return Guard(err, [&] {
    if (client == nullptr) return proglog::capi::NullHandle(err);
    proglog::client::CallOptions options;
    if (int rc = proglog::capi::ToCallOptions(call, &options, err)) return rc;
    if (count == 0) return int{PROGLOG_OK};
    if (out_offsets == nullptr || values == nullptr || lens == nullptr) {
      return Fail(PROGLOG_EINVAL, "out_offsets, values and lens must not be NULL", err);
    }
    std::vector<std::string_view> views;
    views.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      if (values[i] == nullptr && lens[i] > 0) {
        return Fail(PROGLOG_EINVAL, "a value is NULL", err);
      }
      views.emplace_back(static_cast<const char*>(values[i]), lens[i]);
    }
    auto offsets = client->client->ProduceBatch(views, options);
    if (!offsets.ok()) {
      const std::vector<uint64_t> written = proglog::client::WrittenOffsets(offsets.status());
      std::copy(written.begin(), written.end(), out_offsets);
      return proglog::capi::FailBatch(offsets.status(), written.size(), err);
    }
    std::copy(offsets->begin(), offsets->end(), out_offsets);
    return int{PROGLOG_OK};
  });
}

int proglog_client_consume(proglog_record** out, proglog_client* client, uint64_t offset,
                           proglog_error** err) {
  return proglog_client_consume_ex(out, client, offset, nullptr, err);
}

int proglog_client_consume_ex(proglog_record** out, proglog_client* client, uint64_t offset,
                              const proglog_call_options* call, proglog_error** err) {
  return Guard(err, [&] {
    if (client == nullptr) return proglog::capi::NullHandle(err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    proglog::client::CallOptions options;
    if (int rc = proglog::capi::ToCallOptions(call, &options, err)) return rc;
    auto record = client->client->Consume(offset, options);
    if (!record.ok()) return Fail(record.status(), err);
    *out = proglog::capi::NewRecord(*std::move(record));
    return int{PROGLOG_OK};
  });
}

int proglog_client_subscribe(proglog_subscription** out, proglog_client* client, uint64_t offset,
                             proglog_error** err) {
  return Guard(err, [&] {
    if (client == nullptr) return proglog::capi::NullHandle(err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    auto subscription = client->client->Subscribe(offset);
    if (!subscription.ok()) return Fail(subscription.status(), err);
    *out = new proglog_subscription{*std::move(subscription)};
    return int{PROGLOG_OK};
  });
}

int proglog_subscription_next(proglog_record** out, proglog_subscription* sub, int64_t timeout_ms,
                              proglog_error** err) {
  return Guard(err, [&] {
    if (sub == nullptr) return Fail(PROGLOG_EINVAL, "subscription is NULL", err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    // A negative timeout waits "forever": a century is far enough.
    const auto timeout = timeout_ms < 0 ? std::chrono::milliseconds(int64_t{100} * 365 * 86400000)
                                        : std::chrono::milliseconds(timeout_ms);
    auto record = sub->subscription->Next(timeout);
    if (!record.ok()) return Fail(record.status(), err);
    *out = proglog::capi::NewRecord(*std::move(record));
    return int{PROGLOG_OK};
  });
}

void proglog_subscription_cancel(proglog_subscription* sub) {
  if (sub != nullptr) sub->subscription->Cancel();
}

void proglog_subscription_free(proglog_subscription* sub) { delete sub; }

int proglog_client_servers(proglog_server_list** out, proglog_client* client, proglog_error** err) {
  return proglog_client_servers_ex(out, client, nullptr, err);
}

int proglog_client_servers_ex(proglog_server_list** out, proglog_client* client,
                              const proglog_call_options* call, proglog_error** err) {
  return Guard(err, [&] {
    if (client == nullptr) return proglog::capi::NullHandle(err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    proglog::client::CallOptions options;
    if (int rc = proglog::capi::ToCallOptions(call, &options, err)) return rc;
    auto servers = client->client->GetServers(options);
    if (!servers.ok()) return Fail(servers.status(), err);
    *out = new proglog_server_list{*std::move(servers)};
    return int{PROGLOG_OK};
  });
}

size_t proglog_server_list_count(const proglog_server_list* list) {
  return list ? list->servers.size() : 0;
}

const char* proglog_server_list_id(const proglog_server_list* list, size_t i) {
  if (list == nullptr || i >= list->servers.size()) return nullptr;
  return list->servers[i].id.c_str();
}

const char* proglog_server_list_rpc_addr(const proglog_server_list* list, size_t i) {
  if (list == nullptr || i >= list->servers.size()) return nullptr;
  return list->servers[i].rpc_addr.c_str();
}

int proglog_server_list_is_leader(const proglog_server_list* list, size_t i) {
  if (list == nullptr || i >= list->servers.size()) return 0;
  return list->servers[i].is_leader ? 1 : 0;
}

void proglog_server_list_free(proglog_server_list* list) { delete list; }

void proglog_client_close(proglog_client* client) {
  if (client != nullptr) client->client->Close();
}

void proglog_client_free(proglog_client* client) { delete client; }

}  // extern "C"
