package dev.proglog;

/** The handle was closed. */
public class ClosedException extends ProglogException {
  private static final long serialVersionUID = 1L;

  ClosedException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
