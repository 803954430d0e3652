// Library-wide parts of the C API: version, code names, errors and records.
#include <cstring>
#include <mutex>
#include <string>

#include "absl/synchronization/mutex.h"
#include "capi/src/capi_internal.h"
#include "core/client/client.h"

namespace proglog::capi {
namespace {

int CodeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return PROGLOG_OK;
    case absl::StatusCode::kInvalidArgument:
      return PROGLOG_EINVAL;
    case absl::StatusCode::kOutOfRange:
      return PROGLOG_EOUTOFRANGE;
    case absl::StatusCode::kUnavailable:
      return client::NotLeaderAddress(status) ? PROGLOG_ENOTLEADER : PROGLOG_EUNAVAILABLE;
    case absl::StatusCode::kPermissionDenied:
      return PROGLOG_EPERM;
    case absl::StatusCode::kUnauthenticated:
      return PROGLOG_EUNAUTHENTICATED;
    case absl::StatusCode::kDeadlineExceeded:
      return PROGLOG_ETIMEOUT;
    case absl::StatusCode::kCancelled:
      return PROGLOG_ECANCELLED;
    case absl::StatusCode::kFailedPrecondition:
      return PROGLOG_ECLOSED;
    case absl::StatusCode::kNotFound:
      return PROGLOG_ENOTFOUND;
    case absl::StatusCode::kResourceExhausted:
      // The same code says "disk full" and "record too large"; the message tells.
      return client::IsMessageTooLarge(status) ? PROGLOG_ETOOLARGE : PROGLOG_EIO;
    case absl::StatusCode::kDataLoss:
      return PROGLOG_EIO;
    default:
      return PROGLOG_EINTERNAL;
  }
}

proglog_error* NewError(int code, std::string message, std::string leader) noexcept {
  try {
    auto* error = new proglog_error;
    error->code = code;
    error->message = std::move(message);
    error->leader = std::move(leader);
    return error;
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void PrepareProcess() {
  static std::once_flag once;
  std::call_once(once, [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
}

int Fail(const absl::Status& status, proglog_error** err) {
  const int code = CodeOf(status);
  if (err != nullptr) {
    std::string leader;
    if (auto address = client::NotLeaderAddress(status)) leader = *address;
    *err = NewError(code, std::string(status.message()), std::move(leader));
    if (*err != nullptr) (*err)->outcome_unknown = client::IsOutcomeUnknown(status);
  }
  return code;
}

int FailNotLeader(const absl::Status& status, std::string leader, proglog_error** err) {
  if (err != nullptr) {
    *err = NewError(PROGLOG_ENOTLEADER, std::string(status.message()), std::move(leader));
  }
  return PROGLOG_ENOTLEADER;
}

int FailBatch(const absl::Status& status, size_t written, proglog_error** err) {
  const int code = Fail(status, err);
  if (err != nullptr && *err != nullptr) (*err)->written = written;
  return code;
}

int Fail(int code, const char* message, proglog_error** err) {
  if (err != nullptr) *err = NewError(code, message, "");
  return code;
}

}  // namespace proglog::capi

extern "C" {

const char* proglog_version(void) {
#define PROGLOG_STR2(x) #x
#define PROGLOG_STR(x) PROGLOG_STR2(x)
  return PROGLOG_STR(PROGLOG_VERSION_MAJOR) "." PROGLOG_STR(PROGLOG_VERSION_MINOR) "." PROGLOG_STR(
      PROGLOG_VERSION_PATCH);
#undef PROGLOG_STR
#undef PROGLOG_STR2
}

const char* proglog_code_name(int code) {
  switch (code) {
    case PROGLOG_OK:
      return "PROGLOG_OK";
    case PROGLOG_EINVAL:
      return "PROGLOG_EINVAL";
    case PROGLOG_EOUTOFRANGE:
      return "PROGLOG_EOUTOFRANGE";
    case PROGLOG_ENOTLEADER:
      return "PROGLOG_ENOTLEADER";
    case PROGLOG_EUNAVAILABLE:
      return "PROGLOG_EUNAVAILABLE";
    case PROGLOG_EPERM:
      return "PROGLOG_EPERM";
    case PROGLOG_EUNAUTHENTICATED:
      return "PROGLOG_EUNAUTHENTICATED";
    case PROGLOG_ETIMEOUT:
      return "PROGLOG_ETIMEOUT";
    case PROGLOG_ECANCELLED:
      return "PROGLOG_ECANCELLED";
    case PROGLOG_ECLOSED:
      return "PROGLOG_ECLOSED";
    case PROGLOG_ENOTFOUND:
      return "PROGLOG_ENOTFOUND";
    case PROGLOG_EIO:
      return "PROGLOG_EIO";
    case PROGLOG_ENOMEM:
      return "PROGLOG_ENOMEM";
    case PROGLOG_EINTERNAL:
      return "PROGLOG_EINTERNAL";
    case PROGLOG_ETOOLARGE:
      return "PROGLOG_ETOOLARGE";
    case PROGLOG_EBUSY:
      return "PROGLOG_EBUSY";
    default:
      return "unknown";
  }
}

int proglog_error_code(const proglog_error* err) { return err ? err->code : PROGLOG_OK; }

const char* proglog_error_message(const proglog_error* err) {
  return err ? err->message.c_str() : "";
}

int proglog_error_retryable(const proglog_error* err) {
  if (err == nullptr) return 0;
  return err->code == PROGLOG_EUNAVAILABLE || err->code == PROGLOG_ETIMEOUT ||
         err->code == PROGLOG_ENOTLEADER;
}

size_t proglog_error_written(const proglog_error* err) { return err ? err->written : 0; }

int proglog_error_outcome_unknown(const proglog_error* err) {
  return err != nullptr && err->outcome_unknown ? 1 : 0;
}

const char* proglog_error_leader(const proglog_error* err) {
  if (err == nullptr || err->leader.empty()) return nullptr;
  return err->leader.c_str();
}

void proglog_error_free(proglog_error* err) { delete err; }

const void* proglog_record_value(const proglog_record* record, size_t* len) {
  if (record == nullptr) {
    if (len != nullptr) *len = 0;
    return nullptr;
  }
  if (len != nullptr) *len = record->value.size();
  return record->value.data();
}

uint64_t proglog_record_offset(const proglog_record* record) { return record ? record->offset : 0; }

void proglog_record_free(proglog_record* record) { delete record; }

}  // extern "C"
