package dev.proglog;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A client of a proglog cluster ({@code proglog_client} in the C API). Thread-safe: any
 * number of calls may run at once. {@link #close()} ends the client: calls in flight fail
 * with {@link ClosedException}, subscriptions end, and the C handle is freed once the calls
 * in flight have returned. Failures throw {@link ProglogException} subclasses.
 *
 * <pre>{@code
 * try (Client client = Client.open(new ClientOptions().addresses("127.0.0.1:8400"))) {
 *   long offset = client.produce("hello".getBytes(StandardCharsets.UTF_8));
 *   Record record = client.consume(offset);
 * }
 * }</pre>
 */
public final class Client implements AutoCloseable {
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;
  private final AtomicBoolean closed = new AtomicBoolean();

  private Client(long handle) {
    this.handle = new NativeHandle(handle, ProglogNative::proglog_client_free);
    this.cleanable = NativeHandle.CLEANER.register(this, this.handle);
  }

  /**
   * Creates a client. It does not connect: the first call does.
   *
   * @param options the servers and settings
   * @return the new client; close it when done
   */
  public static Client open(ClientOptions options) {
    Objects.requireNonNull(options, "options");
    NativeClientOptions opts = new NativeClientOptions();
    try {
      int code = ProglogNative.proglog_client_options_init(
          opts, proglog_options_version.CLIENT_OPTIONS_VERSION);
      if (code != proglog_code.PROGLOG_OK) {
        throw ProglogException.of(code, "proglog_client_options_init refused this version");
      }
      options.fill(opts);
      long[] out = new long[1];
      ProglogNative.proglog_client_open(out, opts);
      return new Client(out[0]);
    } finally {
      opts.delete();
    }
  }

  /**
   * Appends one record; returns its offset.
   *
   * @param value the record's bytes
   * @return the record's offset
   */
  public long produce(byte[] value) {
    Objects.requireNonNull(value, "value");
    long[] offset = new long[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_produce(offset, h, value);
    } finally {
      handle.release();
    }
    return offset[0];
  }

  /**
   * Appends the buffer's remaining bytes as one record (its position does not move).
   *
   * @param value the record's bytes, from its position to its limit
   * @return the record's offset
   */
  public long produce(ByteBuffer value) {
    return produce(Bytes.remaining(value));
  }

  /**
   * Appends the records in order over one stream; returns their offsets. If one value is over
   * the server's maximum record size, nothing is appended ({@link TooLargeException}). If the
   * server fails the batch part way, the exception's {@link ProglogException#written()} and
   * {@link ProglogException#writtenOffsets()} tell what was appended.
   *
   * @param values the records' bytes, in order
   * @return their offsets, in the same order
   */
  public long[] produceBatch(List<byte[]> values) {
    byte[][] array = values.toArray(new byte[0][]);
    for (byte[] value : array) {
      Objects.requireNonNull(value, "value");
    }
    long[] offsets = new long[Math.max(array.length, 1)];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_produce_batch(offsets, h, array);
    } catch (ProglogException e) {
      e.setWrittenOffsets(offsets);
      throw e;
    } finally {
      handle.release();
    }
    return array.length == offsets.length ? offsets : new long[0];
  }

  /**
   * Reads the record at {@code offset}; {@link OutOfRangeException} if there is none yet.
   *
   * @param offset the record's offset
   * @return the record
   */
  public Record consume(long offset) {
    Record[] out = new Record[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_consume(out, h, offset);
    } finally {
      handle.release();
    }
    return out[0];
  }

  /**
   * Follows the log from {@code offset} (inclusive). Close the subscription when done.
   *
   * @param offset the offset of the first record to return
   * @return the new subscription
   */
  public Subscription subscribe(long offset) {
    long[] out = new long[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_subscribe(out, h, offset);
    } finally {
      handle.release();
    }
    return new Subscription(out[0]);
  }

  /** {@return the cluster's servers, as the server asked reports them} */
  public List<Server> servers() {
    long[] out = new long[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_servers(out, h);
    } finally {
      handle.release();
    }
    long list = out[0];
    try {
      long count = ProglogNative.proglog_server_list_count(list);
      List<Server> servers = new ArrayList<>((int) count);
      for (long i = 0; i < count; i++) {
        servers.add(new Server(ProglogNative.proglog_server_list_id(list, i),
            ProglogNative.proglog_server_list_rpc_addr(list, i),
            ProglogNative.proglog_server_list_is_leader(list, i) != 0));
      }
      return List.copyOf(servers);
    } finally {
      ProglogNative.proglog_server_list_free(list);
    }
  }

  /** Ends the client and frees it (after calls in flight return). Idempotent, any thread. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    long h = handle.acquire();
    try {
      ProglogNative.proglog_client_close(h); // wakes the calls in flight
    } finally {
      handle.release();
    }
    cleanable.clean(); // frees once they have returned
  }
}
