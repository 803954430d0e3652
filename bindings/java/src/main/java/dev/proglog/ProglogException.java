package dev.proglog;

import java.util.Arrays;
import java.util.Optional;

/**
 * A failed proglog call: the C API's code, its message, whether retrying may help, the
 * leader a follower named, and for a failed batch how many records were appended. Each
 * family of codes has a subclass, so callers catch what they handle.
 */
public class ProglogException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The C API's code. */
  private final int rawCode;
  /** Whether the same call may succeed later. */
  private final boolean retryable;
  /** The leader's "host:port" a follower named, or null. */
  private final String leader;
  /** How many leading records of a failed batch were appended. */
  private final long written;
  /** Their offsets. */
  private long[] writtenOffsets = new long[0];

  ProglogException(int rawCode, String message, boolean retryable, String leader, long written) {
    super(message);
    this.rawCode = rawCode;
    this.retryable = retryable;
    this.leader = leader;
    this.written = written;
  }

  /** {@return the code, or {@link ErrorCode#UNKNOWN} for one this binding does not know} */
  public ErrorCode code() {
    return ErrorCode.of(rawCode);
  }

  /** {@return the C API's number for the code (a negative {@code proglog_code})} */
  public int rawCode() {
    return rawCode;
  }

  /** {@return true if the same call may succeed later (unavailable, timeout, not the leader)} */
  public boolean isRetryable() {
    return retryable;
  }

  /** {@return the leader's "host:port", if the server named it ({@link NotLeaderException})} */
  public Optional<String> leader() {
    return Optional.ofNullable(leader);
  }

  /**
   * {@return how many leading records a failed {@link Client#produceBatch} appended before the
   * failure (a retry sends only the rest); 0 for every other failure}
   */
  public long written() {
    return written;
  }

  /** {@return the offsets of the {@link #written()} records of a failed batch} */
  public long[] writtenOffsets() {
    return writtenOffsets.clone();
  }

  void setWrittenOffsets(long[] allOffsets) {
    writtenOffsets = Arrays.copyOf(allOffsets, (int) Math.min(written, allOffsets.length));
  }

  @Override
  public String toString() {
    return getClass().getName() + " [" + ProglogNative.proglog_code_name(rawCode) + "]: "
        + getMessage();
  }

  /** The exception for a code, without a C error object (an argument the binding checks). */
  static ProglogException of(int code, String message) {
    return fromNative(code, message, false, null, 0);
  }

  /** Called by the JNI glue (proglog.i) with the fields of a proglog_error. */
  static ProglogException fromNative(
      int code, String message, boolean retryable, String leader, long written) {
    switch (ErrorCode.of(code)) {
      case INVALID_ARGUMENT:
        return new InvalidArgumentException(code, message, retryable, leader, written);
      case OUT_OF_RANGE:
        return new OutOfRangeException(code, message, retryable, leader, written);
      case NOT_LEADER:
        return new NotLeaderException(code, message, retryable, leader, written);
      case UNAVAILABLE:
        return new UnavailableException(code, message, retryable, leader, written);
      case PERMISSION_DENIED:
        return new PermissionDeniedException(code, message, retryable, leader, written);
      case UNAUTHENTICATED:
        return new AuthenticationException(code, message, retryable, leader, written);
      case TIMEOUT:
        return new TimeoutException(code, message, retryable, leader, written);
      case CANCELLED:
        return new CancelledException(code, message, retryable, leader, written);
      case CLOSED:
        return new ClosedException(code, message, retryable, leader, written);
      case NOT_FOUND:
        return new NotFoundException(code, message, retryable, leader, written);
      case IO:
        return new StorageException(code, message, retryable, leader, written);
      case TOO_LARGE:
        return new TooLargeException(code, message, retryable, leader, written);
      default:
        return new ProglogException(code, message, retryable, leader, written);
    }
  }
}
