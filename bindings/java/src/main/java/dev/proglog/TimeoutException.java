package dev.proglog;

/** The call's deadline passed. */
public class TimeoutException extends ProglogException {
  private static final long serialVersionUID = 1L;

  TimeoutException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
