// Internals shared by the C API's translation units: the C handle structs and
// the conversion of absl::Status into codes and error objects. Not installed.
#ifndef PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_
#define PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "proglog/proglog.h"

struct proglog_error {
  int code = PROGLOG_EINTERNAL;
  std::string message;
  std::string leader;            // Empty unless code is PROGLOG_ENOTLEADER and a leader was named.
  size_t written = 0;            // Records a failed produce_batch appended first.
  bool outcome_unknown = false;  // A failed produce that may have appended.
};

struct proglog_record {
  std::string value;
  uint64_t offset = 0;
};

namespace proglog::capi {

// Maps a status to a code and, if `err` is non-NULL, stores a new error object
// in *err. Returns the code. Never throws: if the error object cannot be
// allocated, *err stays NULL and the code is still returned.
int Fail(const absl::Status& status, proglog_error** err);
int Fail(int code, const char* message, proglog_error** err);
// As Fail(status, err) for a refusal by a node that is not the leader, whose
// leader address the caller took from the status: PROGLOG_ENOTLEADER naming it.
int FailNotLeader(const absl::Status& status, std::string leader, proglog_error** err);
// As Fail(status, err) for a failed batch that appended `written` records first.
int FailBatch(const absl::Status& status, size_t written, proglog_error** err);

// Once per process, before the first node or client: turns off abseil's mutex
// deadlock detection, a debug aid that Debian's abseil build leaves on and that
// costs every lock a graph update (about 14% of a client's instructions per
// call); the proglog binary does the same. An application that wants it sets
// it again after opening.
void PrepareProcess();

// Runs `body` (returning a code) and turns any escaping C++ exception into a
// code, so none crosses the C boundary.
template <typename Body>
int Guard(proglog_error** err, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(PROGLOG_ENOMEM, "out of memory", err);
  } catch (...) {
    return Fail(PROGLOG_EINTERNAL, "unexpected internal exception", err);
  }
}

// The size of each version of the options structs, version 1 first. A new
// version appends fields and its size here; the tables let the library read
// (and _init fill) exactly the bytes an older caller's struct has.
inline constexpr size_t kClientOptionsSizes[] = {
    offsetof(proglog_client_options, refresh_interval_ms),  // v1 ended with tls_server_name
    sizeof(proglog_client_options),
};
static_assert(std::size(kClientOptionsSizes) == PROGLOG_CLIENT_OPTIONS_VERSION);
inline constexpr size_t kNodeOptionsSizes[] = {
    offsetof(proglog_node_options, cluster),               // v1 ended with `durability`
    offsetof(proglog_node_options, server_tls_cert_file),  // v2 ended with peer TLS
    sizeof(proglog_node_options),
};
static_assert(std::size(kNodeOptionsSizes) == PROGLOG_NODE_OPTIONS_VERSION);
inline constexpr size_t kCallOptionsSizes[] = {
    offsetof(proglog_call_options, traceparent),  // v1 ended with `cancel`
    sizeof(proglog_call_options),
};
static_assert(std::size(kCallOptionsSizes) == PROGLOG_CALL_OPTIONS_VERSION);

// Fills `opts` with zeros (the defaults) for `version`, writing only the bytes
// that version's struct has. EINVAL on NULL or an unknown version.
template <typename T, size_t N>
int InitOptions(T* opts, unsigned int version, const size_t (&size_of_version)[N]) {
  if (opts == nullptr || version == 0 || version > N) return PROGLOG_EINVAL;
  __builtin_memset(static_cast<void*>(opts), 0, size_of_version[version - 1]);
  opts->version = version;
  return PROGLOG_OK;
}

// Reads a versioned options struct: copies the fields that the caller's
// version has into a zeroed T, so fields of later versions read as zero (their
// defaults). `size_of_version[v - 1]` is the size of version v's struct; the
// current version is the last. EINVAL on NULL or an unknown version.
template <typename T, size_t N>
int ReadOptions(const T* in, const size_t (&size_of_version)[N], T* out, proglog_error** err) {
  static_assert(N >= 1);
  *out = T{};
  if (in == nullptr) return Fail(PROGLOG_EINVAL, "options must not be NULL", err);
  if (in->version == 0 || in->version > N) {
    return Fail(PROGLOG_EINVAL, "unknown options version (use the _INIT macro or _init function)",
                err);
  }
  // An older caller's struct is shorter: read no byte past its last field.
  __builtin_memcpy(static_cast<void*>(out), static_cast<const void*>(in),
                   size_of_version[in->version - 1]);
  out->version = in->version;
  return PROGLOG_OK;
}

}  // namespace proglog::capi

#endif  // PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_
