package dev.proglog;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates made by the {@code openssl} command line alone, the way tests/e2e/pki.py makes
 * them for the server's and the other bindings' TLS tests: a P-256 CA, and leaves whose
 * Common Name is the subject the ACL sees.
 */
final class Pki {
  record KeyPair(Path cert, Path key) {}

  private static final List<String> EC_KEY =
      List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes");

  /** The original proglog's casbin ACL: root may produce and consume, nobody else anything. */
  static final String MODEL_CONF = String.join("\n", "[request_definition]", "r = sub, obj, act",
      "", "[policy_definition]", "p = sub, obj, act", "", "[policy_effect]",
      "e = some(where (p.eft == allow))", "", "[matchers]",
      "m = r.sub == p.sub && r.obj == p.obj && r.act == p.act", "");
  static final String POLICY_CSV = "p, root, *, produce\np, root, *, consume\n";

  private Pki() {}

  static KeyPair ca(Path dir, String name) throws Exception {
    Files.createDirectories(dir);
    KeyPair ca = new KeyPair(dir.resolve(name + ".pem"), dir.resolve(name + "-key.pem"));
    List<String> args = new ArrayList<>(List.of("req", "-x509"));
    args.addAll(EC_KEY);
    args.addAll(List.of("-keyout", ca.key().toString(), "-out", ca.cert().toString(), "-days",
        "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"));
    openssl(args);
    return ca;
  }

  /** A leaf signed by {@code ca}; usage is serverAuth or clientAuth; san may be null. */
  static KeyPair issue(Path dir, KeyPair ca, String cn, String usage, String san)
      throws Exception {
    String stem = dir.resolve(cn + "-" + usage + "-" + ca.cert().getFileName()).toString();
    KeyPair leaf = new KeyPair(Path.of(stem + ".pem"), Path.of(stem + "-key.pem"));
    List<String> req = new ArrayList<>(List.of("req", "-new"));
    req.addAll(EC_KEY);
    req.addAll(List.of("-keyout", leaf.key().toString(), "-out", stem + ".csr", "-subj",
        "/CN=" + cn));
    openssl(req);
    String ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        + "extendedKeyUsage=" + usage + "\n" + (san != null ? "subjectAltName=" + san + "\n" : "");
    Files.writeString(Path.of(stem + ".ext"), ext);
    openssl(List.of("x509", "-req", "-in", stem + ".csr", "-CA", ca.cert().toString(), "-CAkey",
        ca.key().toString(), "-CAcreateserial", "-days", "1", "-extfile", stem + ".ext", "-out",
        leaf.cert().toString()));
    return leaf;
  }

  private static void openssl(List<String> args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl"));
    command.addAll(args);
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] output = p.getInputStream().readAllBytes();
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException(
          "openssl " + args + " failed:\n" + new String(output, StandardCharsets.UTF_8));
    }
  }
}
