package dev.proglog;

import java.nio.ByteBuffer;

final class Bytes {
  private Bytes() {}

  /** The buffer's remaining bytes, without moving its position. */
  static byte[] remaining(ByteBuffer buffer) {
    byte[] bytes = new byte[buffer.remaining()];
    buffer.duplicate().get(bytes);
    return bytes;
  }
}
