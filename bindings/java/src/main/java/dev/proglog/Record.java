package dev.proglog;

import java.util.Arrays;

/**
 * A record read from the log: its offset and its bytes. The value array belongs to the
 * record's holder; the binding keeps no other reference to it.
 */
public record Record(long offset, byte[] value) {
  @Override
  public boolean equals(Object other) {
    return other instanceof Record that && offset == that.offset
        && Arrays.equals(value, that.value);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(offset) * 31 + Arrays.hashCode(value);
  }

  @Override
  public String toString() {
    return "Record[offset=" + offset + ", " + value.length + " bytes]";
  }
}
