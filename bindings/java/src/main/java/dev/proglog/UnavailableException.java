package dev.proglog;

/** No server was reachable, or a stream's server went away. */
public class UnavailableException extends ProglogException {
  private static final long serialVersionUID = 1L;

  UnavailableException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
