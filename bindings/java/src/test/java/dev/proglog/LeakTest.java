package dev.proglog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Opens and closes 10,000 clients, one in ten making calls that cross JNI both ways (a record
 * read, a refused read), and checks that the process keeps what it had: open file descriptors,
 * threads, heap after a full GC, resident memory; and that no object the glue handed to Java
 * stays reachable (a leaked JNI global reference would keep it so).
 */
class LeakTest {
  static final int CLIENTS = Integer.getInteger("leak.clients", 10_000);
  static final int WARM_UP = 500;
  // Every client is opened and closed; every CALL_EVERY-th also connects and makes calls.
  static final int CALL_EVERY = Integer.getInteger("leak.callEvery", 10);
  // Tolerances: far below one leaked object (or descriptor, thread) per client.
  static final long FD_TOLERANCE = 16;
  static final long THREAD_TOLERANCE = 8;
  static final long HEAP_TOLERANCE_BYTES = 1L << 20; // 1 MiB: < 105 bytes a client
  static final long RSS_TOLERANCE_BYTES = 24L << 20; // 24 MiB: < 2.5 KiB a client
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

  @TempDir static Path dir;
  static ServerProcess server;

  @BeforeAll
  static void startServer() throws Exception {
    server = new ServerProcess(dir.resolve("server"));
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  record Usage(long fds, long threads, long heap, long rss) {}

  @Test
  void tenThousandClientsLeakNothing() throws Exception {
    ClientOptions options =
        new ClientOptions().addresses(server.address()).timeout(CALL_TIMEOUT);
    try (Client writer = Client.open(options)) {
      writer.produce(new byte[100]);
    }
    List<WeakReference<Object>> handedOut = new ArrayList<>();
    runClients(options, WARM_UP, handedOut);
    Usage before = usage();
    long start = System.nanoTime();
    runClients(options, CLIENTS, handedOut);
    double seconds = (System.nanoTime() - start) / 1e9;
    Usage after = usage();
    System.out.printf("leak test: %d clients in %.1f s; before %s; after %s%n", CLIENTS,
        seconds, before, after);

    assertTrue(after.fds() - before.fds() <= FD_TOLERANCE, "file descriptors: " + before
        + " -> " + after);
    assertTrue(after.threads() - before.threads() <= THREAD_TOLERANCE, "threads: " + before
        + " -> " + after);
    assertTrue(after.heap() - before.heap() <= HEAP_TOLERANCE_BYTES, "heap: " + before + " -> "
        + after);
    assertTrue(after.rss() - before.rss() <= RSS_TOLERANCE_BYTES, "rss: " + before + " -> "
        + after);
    Poll.until(Duration.ofSeconds(30), "the clients, records and exceptions to be collected",
        () -> {
          System.gc();
          return handedOut.stream().allMatch(ref -> ref.get() == null) ? true : null;
        });
  }

  /** Each client reads a record and is refused a read; some are watched for collection. */
  private static void runClients(ClientOptions options, int count,
      List<WeakReference<Object>> watched) {
    for (int i = 0; i < count; i++) {
      Client client = Client.open(options);
      if (i % CALL_EVERY == 0) {
        Record record = client.consume(0);
        assertEquals(100, record.value().length);
        OutOfRangeException refused =
            assertThrows(OutOfRangeException.class, () -> client.consume(Long.MAX_VALUE));
        watched.add(new WeakReference<>(record));
        watched.add(new WeakReference<>(refused));
      }
      client.close();
      if (i % CALL_EVERY == 0) {
        watched.add(new WeakReference<>(client));
      }
    }
  }

  private static Usage usage() throws IOException, InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(100);
    }
    Runtime runtime = Runtime.getRuntime();
    long fds;
    try (Stream<Path> entries = Files.list(Path.of("/proc/self/fd"))) {
      fds = entries.count();
    }
    long threads;
    try (Stream<Path> entries = Files.list(Path.of("/proc/self/task"))) {
      threads = entries.count();
    }
    return new Usage(fds, threads, runtime.totalMemory() - runtime.freeMemory(), rssBytes());
  }

  private static long rssBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }
}
