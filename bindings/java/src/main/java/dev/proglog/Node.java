package dev.proglog;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An embedded proglog node ({@code proglog_node}): the log lives in this process, which also
 * serves remote clients on {@link #address()}. Thread-safe. {@link #close()} stops serving and
 * closes the log, then frees the C handle once calls in flight have returned.
 *
 * <pre>{@code
 * try (Node node = Node.open(new NodeOptions(Path.of("data")))) {
 *   long offset = node.append(bytes);
 *   Record record = node.read(offset);
 * }
 * }</pre>
 */
public final class Node implements AutoCloseable {
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;
  private final AtomicBoolean closed = new AtomicBoolean();

  private Node(long handle) {
    this.handle = new NativeHandle(handle, ProglogNative::proglog_node_free);
    this.cleanable = NativeHandle.CLEANER.register(this, this.handle);
  }

  /**
   * Opens the log (recovering it after a crash) and starts serving; a cluster node also
   * starts gossip and Raft, without waiting for a join or a leader.
   *
   * @param options the data directory and settings
   * @return the open node; close it when done
   */
  public static Node open(NodeOptions options) {
    Objects.requireNonNull(options, "options");
    NativeNodeOptions opts = new NativeNodeOptions();
    try {
      int code = ProglogNative.proglog_node_options_init(
          opts, proglog_options_version.NODE_OPTIONS_VERSION);
      if (code != proglog_code.PROGLOG_OK) {
        throw ProglogException.of(code, "proglog_node_options_init refused this version");
      }
      options.fill(opts);
      long[] out = new long[1];
      ProglogNative.proglog_node_open(out, opts);
      return new Node(out[0]);
    } finally {
      opts.delete();
    }
  }

  /**
   * Appends a record locally; returns its offset once durable (on a cluster node: once
   * committed; a follower throws {@link NotLeaderException}).
   *
   * @param value the record's bytes
   * @return the record's offset
   */
  public long append(byte[] value) {
    Objects.requireNonNull(value, "value");
    long[] offset = new long[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_node_append(offset, h, value);
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
  public long append(ByteBuffer value) {
    return append(Bytes.remaining(value));
  }

  /**
   * Reads the record at {@code offset} locally; {@link OutOfRangeException} if none.
   *
   * @param offset the record's offset
   * @return the record
   */
  public Record read(long offset) {
    Record[] out = new Record[1];
    long h = handle.acquire();
    try {
      ProglogNative.proglog_node_read(out, h, offset);
    } finally {
      handle.release();
    }
    return out[0];
  }

  /** {@return the "host:port" the node serves on (for a cluster node, as advertised)} */
  public String address() {
    long h = handle.acquire();
    try {
      return ProglogNative.proglog_node_address(h);
    } finally {
      handle.release();
    }
  }

  /** {@return the gossip "ip:port" of a cluster node; "" for a node without clustering} */
  public String gossipAddress() {
    long h = handle.acquire();
    try {
      return ProglogNative.proglog_node_gossip_address(h);
    } finally {
      handle.release();
    }
  }

  /** Re-reads the ACL files; a policy that does not parse leaves the one in force. */
  public void reloadAcl() {
    long h = handle.acquire();
    try {
      ProglogNative.proglog_node_reload_acl(h);
    } finally {
      handle.release();
    }
  }

  /**
   * Stops serving (calls in flight finish, streams end), closes the log and frees the node.
   * Idempotent. A failure to close the log cleanly is thrown, after the node is freed.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    long h = handle.acquire();
    try {
      ProglogNative.proglog_node_close(h);
    } finally {
      handle.release();
      cleanable.clean();
    }
  }
}
