package dev.proglog;

/** A bad argument: null, empty, oversized or malformed. */
public class InvalidArgumentException extends ProglogException {
  private static final long serialVersionUID = 1L;

  InvalidArgumentException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
