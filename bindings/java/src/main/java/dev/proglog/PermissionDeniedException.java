package dev.proglog;

/** The server's ACL refused the request. */
public class PermissionDeniedException extends ProglogException {
  private static final long serialVersionUID = 1L;

  PermissionDeniedException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
