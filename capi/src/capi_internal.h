// Internals shared by the C API's translation units: the C handle structs and
// the conversion of absl::Status into codes and error objects. Not installed.
#ifndef PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_
#define PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_

#include <cstdint>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "proglog/proglog.h"

struct proglog_error {
  int code = PROGLOG_EINTERNAL;
  std::string message;
  std::string leader;  // Empty unless code is PROGLOG_ENOTLEADER and a leader was named.
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

// Reads a versioned options struct: copies the fields that `version` has into
// a zeroed T. EINVAL on NULL or an unknown version.
template <typename T>
int ReadOptions(const T* in, unsigned int current, size_t size_of_v1, T* out, proglog_error** err) {
  *out = T{};
  if (in == nullptr) return Fail(PROGLOG_EINVAL, "options must not be NULL", err);
  if (in->version == 0 || in->version > current) {
    return Fail(PROGLOG_EINVAL, "unknown options version (use the _INIT macro or _init function)",
                err);
  }
  // Version 1 is the only layout so far; later versions extend the struct.
  __builtin_memcpy(static_cast<void*>(out), static_cast<const void*>(in), size_of_v1);
  return PROGLOG_OK;
}

}  // namespace proglog::capi

#endif  // PROGLOG_CAPI_SRC_CAPI_INTERNAL_H_
