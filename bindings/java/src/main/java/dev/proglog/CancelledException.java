package dev.proglog;

/** The call was cancelled (a subscription closed while waiting). */
public class CancelledException extends ProglogException {
  private static final long serialVersionUID = 1L;

  CancelledException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
