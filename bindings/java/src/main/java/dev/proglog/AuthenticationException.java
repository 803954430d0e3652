package dev.proglog;

/** The TLS peer identity was missing or rejected. */
public class AuthenticationException extends ProglogException {
  private static final long serialVersionUID = 1L;

  AuthenticationException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
