package dev.proglog;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real {@code proglog} binary (system property {@code proglog.bin}) serving a fresh data
 * dir on a free loopback port, found from its JSON {@code serving} log line.
 */
final class ServerProcess implements AutoCloseable {
  static final long MAX_RECORD_BYTES = 4096;
  private static final Pattern SERVING =
      Pattern.compile("\"msg\":\"serving\".*\"rpc_addr\":\"([^\"]+)\"|"
          + "\"rpc_addr\":\"([^\"]+)\".*\"msg\":\"serving\"");
  private static final long START_TIMEOUT_SECONDS = 30;

  private final Process process;
  private final List<String> lines = new ArrayList<>();
  private final String address;

  ServerProcess(Path dataDir, String... extraArgs) throws Exception {
    String binary = System.getProperty("proglog.bin");
    if (binary == null || !Files.isExecutable(Path.of(binary))) {
      throw new IllegalStateException("proglog.bin must name the built proglog binary: " + binary);
    }
    List<String> args = new ArrayList<>(List.of(binary, "serve", "--bootstrap",
        "--data-dir", dataDir.toString(), "--rpc-port", "0", "--node-name", "java",
        "--log-format", "json", "--bind-addr", "127.0.0.1:0",
        "--max-record-bytes", Long.toString(MAX_RECORD_BYTES)));
    args.addAll(List.of(extraArgs));
    process = new ProcessBuilder(args).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    CompletableFuture<String> serving = new CompletableFuture<>();
    Thread reader = new Thread(() -> readLog(serving), "proglog-server-log");
    reader.setDaemon(true);
    reader.start();
    try {
      address = serving.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (Exception e) {
      process.destroyForcibly();
      throw new IllegalStateException("the server did not start: " + log(), e);
    }
  }

  private void readLog(CompletableFuture<String> serving) {
    try (BufferedReader reader = new BufferedReader(
        new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = reader.readLine()) != null; ) {
        synchronized (lines) {
          lines.add(line);
        }
        Matcher m = SERVING.matcher(line);
        if (m.find()) {
          serving.complete(m.group(1) != null ? m.group(1) : m.group(2));
        }
      }
      serving.completeExceptionally(new IllegalStateException("the server exited"));
    } catch (IOException e) {
      serving.completeExceptionally(new UncheckedIOException(e));
    }
  }

  String address() {
    return address;
  }

  String log() {
    synchronized (lines) {
      return String.join("\n", lines);
    }
  }

  /** Stops the server with SIGTERM and waits for it. */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }
}
