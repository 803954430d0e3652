// Built instead of node.cc while core/node is absent from the tree: the same
// symbols, each failing with a clear message, so the ABI stays the same.
#include "capi/src/capi_internal.h"

using proglog::capi::Fail;

extern "C" {

int proglog_node_options_init(proglog_node_options* opts, unsigned int version) {
  return proglog::capi::InitOptions(opts, version, proglog::capi::kNodeOptionsSizes);
}

int proglog_node_open(proglog_node** out, const proglog_node_options*, proglog_error** err) {
  if (out != nullptr) *out = nullptr;
  return Fail(PROGLOG_EINTERNAL, "this build of libproglog has no embedded node", err);
}

int proglog_node_append(uint64_t*, proglog_node*, const void*, size_t, proglog_error** err) {
  return Fail(PROGLOG_EINVAL, "node is NULL", err);
}

int proglog_node_read(proglog_record** out, proglog_node*, uint64_t, proglog_error** err) {
  if (out != nullptr) *out = nullptr;
  return Fail(PROGLOG_EINVAL, "node is NULL", err);
}

const char* proglog_node_address(const proglog_node*) { return nullptr; }

const char* proglog_node_gossip_address(const proglog_node*) { return nullptr; }

int proglog_node_reload_acl(proglog_node*, proglog_error** err) {
  return Fail(PROGLOG_EINVAL, "node is NULL", err);
}

int proglog_node_close(proglog_node*, proglog_error** err) {
  return Fail(PROGLOG_EINVAL, "node is NULL", err);
}

void proglog_node_free(proglog_node*) {}

}  // extern "C"
