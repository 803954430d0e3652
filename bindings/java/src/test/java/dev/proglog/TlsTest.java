package dev.proglog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** The Client against the real proglog binary with mutual TLS and the ACL. */
class TlsTest {
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);

  @TempDir static Path dir;
  static Pki.KeyPair ca;
  static Pki.KeyPair otherCa;
  static Pki.KeyPair root;
  static Pki.KeyPair nobody;
  static Pki.KeyPair otherRoot;
  static ServerProcess server;

  @BeforeAll
  static void startSecureServer() throws Exception {
    Path pki = dir.resolve("pki");
    ca = Pki.ca(pki, "cluster-ca");
    otherCa = Pki.ca(pki, "other-ca");
    Pki.KeyPair serverCert = Pki.issue(pki, ca, "server", "serverAuth", "IP:127.0.0.1");
    root = Pki.issue(pki, ca, "root", "clientAuth", null);
    nobody = Pki.issue(pki, ca, "nobody", "clientAuth", null);
    otherRoot = Pki.issue(pki, otherCa, "root", "clientAuth", null);
    Path model = Files.writeString(dir.resolve("model.conf"), Pki.MODEL_CONF);
    Path policy = Files.writeString(dir.resolve("policy.csv"), Pki.POLICY_CSV);
    server = new ServerProcess(dir.resolve("data"),
        "--server-tls-cert-file", serverCert.cert().toString(),
        "--server-tls-key-file", serverCert.key().toString(),
        "--server-tls-ca-file", ca.cert().toString(),
        "--acl-model-file", model.toString(), "--acl-policy-file", policy.toString());
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  static Client connect(Pki.KeyPair trusted, Pki.KeyPair identity) {
    return Client.open(new ClientOptions().addresses(server.address()).timeout(CALL_TIMEOUT)
        .tls(trusted.cert().toString(), identity == null ? null : identity.cert().toString(),
            identity == null ? null : identity.key().toString()));
  }

  @Test
  void rootProducesConsumesAndSubscribes() {
    try (Client client = connect(ca, root)) {
      long first = client.produce("over tls".getBytes(UTF_8));
      assertArrayEquals("over tls".getBytes(UTF_8), client.consume(first).value());
      long[] more = client.produceBatch(List.of(new byte[] {1}, new byte[] {2}));
      assertArrayEquals(new long[] {first + 1, first + 2}, more);
      try (Subscription sub = client.subscribe(first)) {
        for (long expected = first; expected <= first + 2; expected++) {
          assertEquals(expected, sub.next(CALL_TIMEOUT).orElseThrow().offset());
        }
      }
    }
  }

  @Test
  void certificateTheAclDoesNotNameIsPermissionDenied() {
    try (Client client = connect(ca, nobody)) {
      assertThrows(PermissionDeniedException.class, () -> client.produce(new byte[] {1}));
      assertThrows(PermissionDeniedException.class, () -> client.consume(0));
    }
  }

  // A failed TLS handshake: libproglog reports PROGLOG_EUNAVAILABLE today (gRPC's status for
  // it), not PROGLOG_EUNAUTHENTICATED, so these accept either, as the Go and Python tests do;
  // wrongCertificateIsAnAuthenticationException below states the contract proglog.h gives.

  @Test
  void certificateFromAnotherCaIsRefused() {
    assertRefused(ca, otherRoot);
  }

  @Test
  void noClientCertificateIsRefused() {
    assertRefused(ca, null);
  }

  @Test
  void serverFromAnUntrustedCaIsRefused() {
    assertRefused(otherCa, root);
  }

  @Test
  void wrongCertificateIsAnAuthenticationException() {
    try (Client client = connect(ca, otherRoot)) {
      AuthenticationException e =
          assertThrows(AuthenticationException.class, () -> client.produce(new byte[] {1}));
      assertEquals(ErrorCode.UNAUTHENTICATED, e.code());
    }
  }

  /** Both calls fail at once as a refusal, never succeed nor run into the deadline. */
  private static void assertRefused(Pki.KeyPair trusted, Pki.KeyPair identity) {
    try (Client client = connect(trusted, identity)) {
      for (Executable call : List.<Executable>of(
          () -> client.produce(new byte[] {1}), () -> client.consume(0))) {
        ProglogException e = assertThrows(ProglogException.class, call);
        assertTrue(e instanceof AuthenticationException || e instanceof UnavailableException,
            e.toString());
      }
    }
  }
}
