package dev.proglog;

/** A record over the server's maximum record size; nothing was appended. */
public class TooLargeException extends ProglogException {
  private static final long serialVersionUID = 1L;

  TooLargeException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
