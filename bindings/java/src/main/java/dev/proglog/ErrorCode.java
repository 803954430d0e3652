package dev.proglog;

/**
 * The C API's result codes ({@code proglog_code} in proglog.h). Each constant's number is
 * read from the loaded library, never written here.
 */
public enum ErrorCode {
  /** A bad argument: null, empty, oversized or malformed. */
  INVALID_ARGUMENT(proglog_code.PROGLOG_EINVAL),
  /** No record at that offset (yet). */
  OUT_OF_RANGE(proglog_code.PROGLOG_EOUTOFRANGE),
  /** A follower refused a write; {@link ProglogException#leader()} may name the leader. */
  NOT_LEADER(proglog_code.PROGLOG_ENOTLEADER),
  /** No server reachable, or a stream's server went away. */
  UNAVAILABLE(proglog_code.PROGLOG_EUNAVAILABLE),
  /** The ACL refused the request. */
  PERMISSION_DENIED(proglog_code.PROGLOG_EPERM),
  /** The TLS peer identity was missing or rejected. */
  UNAUTHENTICATED(proglog_code.PROGLOG_EUNAUTHENTICATED),
  /** The deadline passed. */
  TIMEOUT(proglog_code.PROGLOG_ETIMEOUT),
  /** Cancelled by the caller. */
  CANCELLED(proglog_code.PROGLOG_ECANCELLED),
  /** The handle was closed. */
  CLOSED(proglog_code.PROGLOG_ECLOSED),
  /** A file or directory named in the options is missing. */
  NOT_FOUND(proglog_code.PROGLOG_ENOTFOUND),
  /** Disk full, corrupt data, or another I/O failure. */
  IO(proglog_code.PROGLOG_EIO),
  /** Out of memory. */
  NO_MEMORY(proglog_code.PROGLOG_ENOMEM),
  /** A bug or an unexpected server answer. */
  INTERNAL(proglog_code.PROGLOG_EINTERNAL),
  /** A record over the maximum record size. */
  TOO_LARGE(proglog_code.PROGLOG_ETOOLARGE),
  /** A code this binding does not know (a newer library). */
  UNKNOWN(Integer.MIN_VALUE);

  private final int value;

  ErrorCode(int value) {
    this.value = value;
  }

  /** {@return the C API's number for this code} */
  public int value() {
    return value;
  }

  /**
   * The code whose number is {@code value}; {@link #UNKNOWN} if none.
   *
   * @param value a C API code
   * @return its constant
   */
  public static ErrorCode of(int value) {
    for (ErrorCode code : values()) {
      if (code.value == value) {
        return code;
      }
    }
    return UNKNOWN;
  }
}
