package dev.proglog;

import java.time.Duration;
import java.util.function.Supplier;

final class Poll {
  private Poll() {}

  /** The first non-null value of {@code condition}; fails after {@code timeout}. */
  static <T> T until(Duration timeout, String what, Supplier<T> condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      T value = condition.get();
      if (value != null) {
        return value;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      Thread.sleep(20);
    }
  }
}
