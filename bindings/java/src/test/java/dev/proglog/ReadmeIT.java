package dev.proglog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's Java example, compiled against the packaged jar (system property proglog.jar)
 * and run in its own JVM against the real server: what a user copying it would do.
 */
class ReadmeIT {
  private static final Pattern JAVA_BLOCK =
      Pattern.compile("```java\n(.*?public class Example.*?)```", Pattern.DOTALL);

  @TempDir Path dir;

  @Test
  void readmeExampleProducesAndConsumesThroughAServer() throws Exception {
    String readme = Files.readString(Path.of(System.getProperty("proglog.readme")));
    Matcher block = JAVA_BLOCK.matcher(readme);
    assertTrue(block.find(), "README.md has no ```java block with `public class Example`");
    Path source = Files.writeString(dir.resolve("Example.java"), block.group(1));
    String jar = System.getProperty("proglog.jar");
    assertTrue(Files.isRegularFile(Path.of(jar)), "no jar at " + jar);

    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertEquals(0, javac.run(null, null, null, "-cp", jar, "-d", dir.toString(),
        source.toString()), "the README example does not compile");

    try (ServerProcess server = new ServerProcess(dir.resolve("data"))) {
      String java = ProcessHandle.current().info().command().orElse("java");
      Process run = new ProcessBuilder(List.of(java, "-cp", jar + ":" + dir, "Example",
          server.address())).redirectErrorStream(true).start();
      String output = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(run.waitFor(60, TimeUnit.SECONDS));
      assertEquals(0, run.exitValue(), output);
      assertTrue(output.contains("0: hello from Java"), output);
      assertTrue(output.contains("[hello from Java, second]"), output);
    }
  }
}
