package dev.proglog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The public API is the hand-written classes: nothing SWIG generates is public. */
class ApiSurfaceTest {
  /** Class names SWIG gives what it generates from proglog.i. */
  static boolean generated(String name) {
    return name.startsWith("SWIGTYPE_") || name.startsWith("ProglogNative")
        || name.startsWith("Native") || name.startsWith("proglog_");
  }

  @Test
  void nothingSwigGeneratesIsPublic() throws Exception {
    List<String> generated = classNames().filter(ApiSurfaceTest::generated).toList();
    // The wrapper around proglog.h is there: the check below looks at something.
    assertTrue(generated.contains("ProglogNativeJNI"), generated.toString());
    List<String> publicOnes = generated.stream().filter(ApiSurfaceTest::isPublic).toList();
    assertEquals(List.of(), publicOnes);
  }

  static Stream<String> classNames() throws URISyntaxException, java.io.IOException {
    Path folder = Path.of(Client.class.getResource("Client.class").toURI()).getParent();
    try (Stream<Path> files = Files.list(folder)) {
      return files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".class") && !n.contains("$"))
          .map(n -> n.substring(0, n.length() - ".class".length()))
          .toList()
          .stream();
    }
  }

  static boolean isPublic(String simpleName) {
    try {
      Class<?> type = Class.forName("dev.proglog." + simpleName, false,
          ApiSurfaceTest.class.getClassLoader());
      return Modifier.isPublic(type.getModifiers());
    } catch (ClassNotFoundException e) {
      throw new AssertionError(e);
    }
  }
}
