// The C API's embedded node: thin wrappers over proglog::node::Node.
#include "core/node/node.h"

#include <memory>
#include <string>
#include <string_view>

#include "capi/src/capi_internal.h"

struct proglog_node {
  std::unique_ptr<proglog::node::Node> node;
  std::string address;  // Fixed once open, so it stays readable after close.
};

namespace proglog::capi {
namespace {

int NullHandle(proglog_error** err) { return Fail(PROGLOG_EINVAL, "node is NULL", err); }

absl::StatusOr<node::Config> ToConfig(const proglog_node_options& in) {
  node::Config config;
  if (in.data_dir == nullptr || in.data_dir[0] == '\0') {
    return absl::InvalidArgumentError("data_dir is required");
  }
  if (in.rpc_port < 0 || in.rpc_port > 65535) {
    return absl::InvalidArgumentError("rpc_port must be in [0, 65535]");
  }
  config.data_dir = in.data_dir;
  config.node_name = in.node_name ? in.node_name : "node";
  if (in.rpc_host) config.rpc_host = in.rpc_host;
  config.rpc_port = in.rpc_port;
  if (in.max_store_bytes) config.log.max_store_bytes = in.max_store_bytes;
  if (in.max_index_bytes) config.log.max_index_bytes = in.max_index_bytes;
  if (in.max_record_bytes) config.log.max_record_bytes = in.max_record_bytes;
  if (in.durability) {
    auto durability = log::Durability::Parse(in.durability);
    if (!durability.ok()) return durability.status();
    config.log.durability = *durability;
  }
  return config;
}

}  // namespace
}  // namespace proglog::capi

using proglog::capi::Fail;
using proglog::capi::Guard;

extern "C" {

int proglog_node_options_init(proglog_node_options* opts, unsigned int version) {
  if (opts == nullptr || version == 0 || version > PROGLOG_NODE_OPTIONS_VERSION) {
    return PROGLOG_EINVAL;
  }
  *opts = proglog_node_options{};
  opts->version = version;
  return PROGLOG_OK;
}

int proglog_node_open(proglog_node** out, const proglog_node_options* opts, proglog_error** err) {
  return Guard(err, [&] {
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    proglog_node_options in;
    if (int rc = proglog::capi::ReadOptions(opts, PROGLOG_NODE_OPTIONS_VERSION,
                                            sizeof(proglog_node_options), &in, err)) {
      return rc;
    }
    auto config = proglog::capi::ToConfig(in);
    if (!config.ok()) return Fail(config.status(), err);
    auto node = proglog::node::Node::Open(*std::move(config));
    if (!node.ok()) return Fail(node.status(), err);
    auto* handle = new proglog_node{*std::move(node), ""};
    handle->address = handle->node->RpcAddress();
    *out = handle;
    return int{PROGLOG_OK};
  });
}

int proglog_node_append(uint64_t* out_offset, proglog_node* node, const void* value, size_t len,
                        proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    if (out_offset == nullptr || (value == nullptr && len > 0)) {
      return Fail(PROGLOG_EINVAL, "out_offset and value must not be NULL", err);
    }
    auto offset = node->node->Append(std::string_view(static_cast<const char*>(value), len));
    if (!offset.ok()) return Fail(offset.status(), err);
    *out_offset = *offset;
    return int{PROGLOG_OK};
  });
}

int proglog_node_read(proglog_record** out, proglog_node* node, uint64_t offset,
                      proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    if (out == nullptr) return Fail(PROGLOG_EINVAL, "out must not be NULL", err);
    *out = nullptr;
    auto record = node->node->Read(offset);
    if (!record.ok()) return Fail(record.status(), err);
    *out = new proglog_record{std::move(record->value), record->offset};
    return int{PROGLOG_OK};
  });
}

const char* proglog_node_address(const proglog_node* node) {
  return node ? node->address.c_str() : nullptr;
}

int proglog_node_close(proglog_node* node, proglog_error** err) {
  return Guard(err, [&] {
    if (node == nullptr) return proglog::capi::NullHandle(err);
    absl::Status status = node->node->Close();
    if (!status.ok()) return Fail(status, err);
    return int{PROGLOG_OK};
  });
}

void proglog_node_free(proglog_node* node) {
  if (node == nullptr) return;
  try {
    (void)node->node->Close();
  } catch (...) {
    // Freeing must not fail; the node's resources are released by its destructor.
  }
  delete node;
}

}  // extern "C"
