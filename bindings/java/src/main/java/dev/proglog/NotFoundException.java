package dev.proglog;

/** A file or directory named in the options is missing. */
public class NotFoundException extends ProglogException {
  private static final long serialVersionUID = 1L;

  NotFoundException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
