package dev.proglog;

import java.lang.ref.Cleaner;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongConsumer;

/**
 * One C handle and the rule the C API sets for it: any number of calls may run on it at
 * once, but its _free must be the last call, with none running. Calls hold the read lock;
 * {@link #free()} takes the write lock, so it waits for calls in flight, and frees once.
 * It is also the {@link Cleaner} action that frees a handle its owner forgot to close; it
 * refers to nothing but the handle, so it does not keep its owner reachable.
 */
final class NativeHandle implements Runnable {
  static final Cleaner CLEANER = Cleaner.create();

  private final long handle;
  private final LongConsumer freeFunction;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private boolean freed; // guarded by lock

  NativeHandle(long handle, LongConsumer freeFunction) {
    this.handle = handle;
    this.freeFunction = freeFunction;
  }

  /** Starts a call: the handle, valid until {@link #release()}. ClosedException once freed. */
  long acquire() {
    lock.readLock().lock();
    if (freed) {
      lock.readLock().unlock();
      throw ProglogException.of(proglog_code.PROGLOG_ECLOSED, "the handle is closed");
    }
    return handle;
  }

  void release() {
    lock.readLock().unlock();
  }

  /** Frees the handle once, after the calls in flight have returned. Idempotent. */
  void free() {
    lock.writeLock().lock();
    try {
      if (!freed) {
        freed = true;
        freeFunction.accept(handle);
      }
    } finally {
      lock.writeLock().unlock();
    }
  }

  @Override
  public void run() {
    free();
  }
}
