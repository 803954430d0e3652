package dev.proglog;

/** No record at that offset (yet), or below the lowest kept one. */
public class OutOfRangeException extends ProglogException {
  private static final long serialVersionUID = 1L;

  OutOfRangeException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
