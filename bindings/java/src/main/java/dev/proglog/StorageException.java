package dev.proglog;

/** Disk full, corrupt data, or another I/O failure. */
public class StorageException extends ProglogException {
  private static final long serialVersionUID = 1L;

  StorageException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
