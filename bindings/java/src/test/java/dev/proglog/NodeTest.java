package dev.proglog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded node, alone and with a Client of this binding talking to it. */
class NodeTest {
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

  @TempDir Path dir;

  @Test
  void appendsReadsAndServesClients() {
    try (Node node = Node.open(new NodeOptions(dir.resolve("log")).nodeName("embedded")
        .maxRecordBytes(1024))) {
      assertEquals(0, node.append("zero".getBytes(UTF_8)));
      assertEquals(1, node.append(ByteBuffer.wrap("one".getBytes(UTF_8))));
      assertEquals(new Record(1, "one".getBytes(UTF_8)), node.read(1));
      assertThrows(OutOfRangeException.class, () -> node.read(2));
      assertEquals("", node.gossipAddress());
      assertTrue(node.address().startsWith("127.0.0.1:"), node.address());

      try (Client client = Client.open(new ClientOptions().addresses(node.address())
          .timeout(CALL_TIMEOUT))) {
        assertArrayEquals("zero".getBytes(UTF_8), client.consume(0).value());
        assertEquals(2, client.produce("two".getBytes(UTF_8)));
        assertArrayEquals("two".getBytes(UTF_8), node.read(2).value());
        assertThrows(TooLargeException.class, () -> client.produce(new byte[1025]));
        assertEquals(List.of("embedded"), client.servers().stream().map(Server::id).toList());
      }
    }
  }

  @Test
  void reopensItsLog() {
    Path log = dir.resolve("log");
    try (Node node = Node.open(new NodeOptions(log))) {
      node.append("kept".getBytes(UTF_8));
    }
    try (Node node = Node.open(new NodeOptions(log))) {
      assertArrayEquals("kept".getBytes(UTF_8), node.read(0).value());
      assertEquals(1, node.append(new byte[] {1}));
    }
  }

  @Test
  void closingTwiceIsSafeAndLaterCallsFailAsClosed() {
    Node node = Node.open(new NodeOptions(dir.resolve("log")));
    node.close();
    node.close();
    assertThrows(ClosedException.class, () -> node.append(new byte[] {1}));
    assertThrows(ClosedException.class, () -> node.read(0));
    assertThrows(ClosedException.class, node::address);
  }

  @Test
  void badOptionsAreInvalidArguments() throws Exception {
    Path cert = Files.writeString(dir.resolve("cert.pem"), "not a certificate");
    // TLS files come all three or none.
    assertThrows(InvalidArgumentException.class, () -> Node.open(
        new NodeOptions(dir.resolve("a")).serverTls(cert, cert, dir.resolve("missing.pem"))));
    // Cluster settings need clustering.
    assertThrows(InvalidArgumentException.class,
        () -> Node.open(new NodeOptions(dir.resolve("b")).bootstrap(true).gossipKey("x")));
    assertThrows(InvalidArgumentException.class,
        () -> Node.open(new NodeOptions(dir.resolve("c")).durability("sometimes")));
  }

  @Test
  void tlsNodeServesAClientWithACertificateItsAclAllows() throws Exception {
    Path pki = dir.resolve("pki");
    Pki.KeyPair ca = Pki.ca(pki, "ca");
    Pki.KeyPair serverCert = Pki.issue(pki, ca, "server", "serverAuth", "IP:127.0.0.1");
    Pki.KeyPair root = Pki.issue(pki, ca, "root", "clientAuth", null);
    Pki.KeyPair nobody = Pki.issue(pki, ca, "nobody", "clientAuth", null);
    Path model = Files.writeString(dir.resolve("model.conf"), Pki.MODEL_CONF);
    Path policy = Files.writeString(dir.resolve("policy.csv"), Pki.POLICY_CSV);
    try (Node node = Node.open(new NodeOptions(dir.resolve("log"))
        .serverTls(serverCert.cert(), serverCert.key(), ca.cert()).acl(model, policy))) {
      ClientOptions base = new ClientOptions().addresses(node.address()).timeout(CALL_TIMEOUT);
      try (Client client = Client.open(base.tls(ca.cert().toString(), root.cert().toString(),
          root.key().toString()))) {
        assertEquals(0, client.produce(new byte[] {7}));
      }
      try (Client client = Client.open(new ClientOptions().addresses(node.address())
          .timeout(CALL_TIMEOUT)
          .tls(ca.cert().toString(), nobody.cert().toString(), nobody.key().toString()))) {
        assertThrows(PermissionDeniedException.class, () -> client.consume(0));
      }
      node.reloadAcl();
    }
  }

  @Test
  void followerRefusesAppendsAndNamesTheLeader() throws Exception {
    Duration heartbeat = Duration.ofMillis(50);
    try (Node leader = Node.open(new NodeOptions(dir.resolve("n1")).nodeName("n1")
        .cluster("127.0.0.1:0").bootstrap(true).raftHeartbeatInterval(heartbeat))) {
      leader.append("first".getBytes(UTF_8));
      try (Node follower = Node.open(new NodeOptions(dir.resolve("n2")).nodeName("n2")
          .cluster("127.0.0.1:0").startJoinAddrs(leader.gossipAddress())
          .raftHeartbeatInterval(heartbeat))) {
        // Replication reaches the follower once it has joined.
        Record replicated = Poll.until(Duration.ofSeconds(30), "replication to n2", () -> {
          try {
            return follower.read(0);
          } catch (OutOfRangeException e) {
            return null;
          }
        });
        assertArrayEquals("first".getBytes(UTF_8), replicated.value());
        NotLeaderException e =
            assertThrows(NotLeaderException.class, () -> follower.append(new byte[] {1}));
        assertTrue(e.isRetryable());
        assertEquals(leader.address(), e.leader().orElseThrow());
      }
    }
  }
}
