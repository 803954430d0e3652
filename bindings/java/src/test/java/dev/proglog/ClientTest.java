package dev.proglog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Client against the real proglog binary, plaintext. */
class ClientTest {
  /** Every call that should fail must fail within this deadline, never hang. */
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

  @TempDir static Path dataDir;
  static ServerProcess server;

  @BeforeAll
  static void startServer() throws Exception {
    server = new ServerProcess(dataDir.resolve("server"));
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  static Client connect() {
    return Client.open(new ClientOptions().addresses(server.address()).timeout(CALL_TIMEOUT));
  }

  static byte[] bytes(String s) {
    return s.getBytes(UTF_8);
  }

  @Test
  void producesConsumesAndSubscribes() {
    try (Client client = connect()) {
      long first = client.produce(bytes("hello"));
      long second = client.produce(ByteBuffer.wrap(bytes("xxworld"), 2, 5));
      assertEquals(first + 1, second);
      assertEquals(new Record(first, bytes("hello")), client.consume(first));
      assertArrayEquals(bytes("world"), client.consume(second).value());

      long[] batch = client.produceBatch(List.of(bytes("a"), bytes("b"), bytes("c")));
      assertArrayEquals(new long[] {second + 1, second + 2, second + 3}, batch);

      try (Subscription sub = client.subscribe(first)) {
        for (String expected : List.of("hello", "world", "a", "b", "c")) {
          Record record = sub.next(CALL_TIMEOUT).orElseThrow();
          assertArrayEquals(bytes(expected), record.value());
        }
        assertEquals(Optional.empty(), sub.next(Duration.ofMillis(50)));
        long tail = client.produce(bytes("tail"));
        assertTrue(sub.hasNext());
        assertEquals(new Record(tail, bytes("tail")), sub.next());
      }
    }
  }

  @Test
  void directByteBufferIsReadFromItsPosition() {
    ByteBuffer direct = ByteBuffer.allocateDirect(16);
    direct.put(bytes("skipdirect")).flip().position(4);
    try (Client client = connect()) {
      long offset = client.produce(direct);
      assertEquals(4, direct.position());
      assertArrayEquals(bytes("direct"), client.consume(offset).value());
    }
  }

  @Test
  void readingPastTheEndIsOutOfRange() {
    try (Client client = connect()) {
      long next = client.produce(bytes("last")) + 1;
      OutOfRangeException e = assertThrows(OutOfRangeException.class, () -> client.consume(next));
      assertEquals(ErrorCode.OUT_OF_RANGE, e.code());
      assertEquals(proglog_code.PROGLOG_EOUTOFRANGE, e.rawCode());
      assertFalse(e.isRetryable());
      assertTrue(e.toString().contains("PROGLOG_EOUTOFRANGE"), e.toString());
    }
  }

  @Test
  void tooLargeRecordIsRefusedAndNothingIsAppended() {
    byte[] tooLarge = new byte[(int) ServerProcess.MAX_RECORD_BYTES + 1];
    try (Client client = connect()) {
      long before = client.produce(bytes("before"));
      assertThrows(TooLargeException.class, () -> client.produce(tooLarge));
      TooLargeException batch = assertThrows(TooLargeException.class,
          () -> client.produceBatch(List.of(bytes("fits"), tooLarge)));
      assertEquals(0, batch.written());
      assertThrows(OutOfRangeException.class, () -> client.consume(before + 1));
      assertEquals(before + 1, client.produce(bytes("after")));
    }
  }

  @Test
  void anEmptyValueInABatchIsARecord() {
    try (Client client = connect()) {
      long[] offsets =
          client.produceBatch(List.of(bytes("a"), new byte[0], bytes("c")));
      assertEquals(3, offsets.length);
      assertEquals(offsets[0] + 1, offsets[1]);
      assertEquals(offsets[1] + 1, offsets[2]);
      assertArrayEquals(new byte[0], client.consume(offsets[1]).value());
      assertArrayEquals(bytes("c"), client.consume(offsets[2]).value());
    }
  }

  @Test
  void listsTheServer() {
    try (Client client = connect()) {
      assertEquals(List.of(new Server("java", server.address(), true)), client.servers());
    }
  }

  @Test
  void closingTwiceIsSafeAndLaterCallsFailAsClosed() {
    Client client = connect();
    Subscription sub = client.subscribe(0);
    client.close();
    client.close();
    ClosedException e = assertThrows(ClosedException.class, () -> client.produce(bytes("x")));
    assertEquals(ErrorCode.CLOSED, e.code());
    assertThrows(ClosedException.class, () -> client.consume(0));
    assertThrows(ClosedException.class, client::servers);
    // Closing the client ended its subscription; the subscription is freed after it.
    assertFalse(drainsToEnd(sub));
    sub.close();
    sub.close();
    assertThrows(ClosedException.class, () -> sub.next(Duration.ZERO));
  }

  /** Reads what the subscription still yields; whether it then has a next record. */
  private static boolean drainsToEnd(Subscription sub) {
    while (sub.hasNext()) {
      sub.next();
    }
    return sub.hasNext();
  }

  @Test
  void closingASubscriptionWakesABlockedWait() throws Exception {
    try (Client client = connect()) {
      long end = client.produce(bytes("x")) + 1;
      Subscription sub = client.subscribe(end);
      CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(sub::hasNext);
      assertThrows(java.util.concurrent.TimeoutException.class,
          () -> waiter.get(100, TimeUnit.MILLISECONDS)); // blocked: no record yet
      sub.close();
      assertFalse(waiter.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS));
    }
  }

  @Test
  void closingTheClientWakesABlockedCall() throws Exception {
    Client client = Client.open(new ClientOptions().addresses(server.address()).noTimeout());
    long end = client.produce(bytes("x")) + 1;
    Subscription sub = client.subscribe(end);
    CompletableFuture<Optional<Record>> waiter =
        CompletableFuture.supplyAsync(() -> sub.next(Duration.ofMinutes(5)));
    client.close();
    var e = assertThrows(java.util.concurrent.ExecutionException.class,
        () -> waiter.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS));
    assertTrue(e.getCause() instanceof CancelledException, e.getCause().toString());
    sub.close();
  }

  @Test
  void unreachableServerIsUnavailableAndRetryable() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort(); // closed again: nothing listens there
    }
    try (Client client = Client.open(new ClientOptions().addresses("127.0.0.1:" + port)
        .timeout(Duration.ofSeconds(2)))) {
      ProglogException e = assertThrows(ProglogException.class, () -> client.produce(bytes("x")));
      assertTrue(e instanceof UnavailableException || e instanceof TimeoutException, e.toString());
      assertTrue(e.isRetryable());
    }
  }

  @Test
  void badOptionsAreInvalidArguments() {
    assertThrows(InvalidArgumentException.class, () -> Client.open(new ClientOptions()));
    assertThrows(ProglogException.class,
        () -> Client.open(new ClientOptions().addresses("127.0.0.1:1")
            .tls("/nonexistent/ca.pem", null, null)));
  }
}
