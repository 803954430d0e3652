package dev.proglog;

import java.lang.ref.Cleaner;
import java.time.Duration;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Follows the log from an offset ({@code proglog_subscription}). Used by one thread at a
 * time, except {@link #close()}, which any thread may call to wake a blocked wait. As an
 * {@link Iterator}, {@link #hasNext()} waits (without a deadline) for the next record and is
 * false once the subscription is closed, or its client is; a server that goes away throws
 * {@link UnavailableException}.
 */
public final class Subscription implements AutoCloseable, Iterator<Record> {
  private final long subscription;
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final ReentrantLock waiting = new ReentrantLock();
  private Record buffered;
  private boolean ended;

  Subscription(long subscription) {
    this.subscription = subscription;
    this.handle = new NativeHandle(subscription, ProglogNative::proglog_subscription_free);
    this.cleanable = NativeHandle.CLEANER.register(this, handle);
  }

  /**
   * Waits at most {@code timeout} for the next record; empty if none came in time (the
   * subscription stays usable). {@link CancelledException} once closed.
   *
   * @param timeout how long to wait
   * @return the next record, or empty
   */
  public Optional<Record> next(Duration timeout) {
    if (buffered != null) {
      Record record = buffered;
      buffered = null;
      return Optional.of(record);
    }
    try {
      return Optional.of(waitForNext(Math.max(timeout.toMillis(), 0)));
    } catch (TimeoutException e) {
      return Optional.empty();
    }
  }

  @Override
  public boolean hasNext() {
    if (buffered != null) {
      return true;
    }
    if (ended) {
      return false;
    }
    try {
      buffered = waitForNext(-1);
      return true;
    } catch (CancelledException | ClosedException e) {
      ended = true;
      return false;
    }
  }

  @Override
  public Record next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the subscription has ended");
    }
    Record record = buffered;
    buffered = null;
    return record;
  }

  private Record waitForNext(long timeoutMs) {
    Record[] out = new Record[1];
    waiting.lock(); // the C subscription serves one waiter at a time
    try {
      long h = handle.acquire();
      try {
        ProglogNative.proglog_subscription_next(out, h, timeoutMs);
      } finally {
        handle.release();
      }
    } finally {
      waiting.unlock();
    }
    return out[0];
  }

  /** Ends the subscription, waking a blocked wait, and frees it. Idempotent, any thread. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    // Cancel is the one call the C API allows beside a running _next; the handle stays
    // valid until clean() below frees it, which waits for that _next to return.
    ProglogNative.proglog_subscription_cancel(subscription);
    cleanable.clean();
  }
}
