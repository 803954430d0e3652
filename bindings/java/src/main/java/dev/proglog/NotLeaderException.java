package dev.proglog;

/** A follower refused a write; {@link #leader()} names the leader when known. */
public class NotLeaderException extends ProglogException {
  private static final long serialVersionUID = 1L;

  NotLeaderException(int code, String message, boolean retryable, String leader, long written) {
    super(code, message, retryable, leader, written);
  }
}
