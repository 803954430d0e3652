package dev.proglog;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Loads the two shared libraries the jar carries under {@code dev/proglog/native/}:
 * libproglog (the C API) and libproglog_jni (the SWIG glue, which needs the first). They are
 * copied to a private temporary folder, loaded, and deleted at once (a loaded library stays
 * mapped). The system property {@code dev.proglog.library.path} names a folder holding both
 * instead, for a build that keeps them outside the jar.
 */
final class NativeLibrary {
  private static final String RESOURCE_DIR = "native/";
  private static final String[] FILES = {"libproglog.so.0", "libproglog_jni.so"};

  private NativeLibrary() {}

  /** Called once, from the static initializer of the generated JNI class. */
  static void load() {
    String folder = System.getProperty("dev.proglog.library.path");
    if (folder != null) {
      for (String file : FILES) {
        System.load(Path.of(folder, file).toAbsolutePath().toString());
      }
      return;
    }
    try {
      loadFromJar();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot extract proglog's native libraries", e);
    }
  }

  private static void loadFromJar() throws IOException {
    Path dir = Files.createTempDirectory("proglog-jni");
    try {
      for (String file : FILES) {
        Path target = dir.resolve(file);
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE_DIR + file)) {
          if (in == null) {
            throw new UnsatisfiedLinkError("the jar lacks dev/proglog/" + RESOURCE_DIR + file);
          }
          Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        System.load(target.toString());
      }
    } finally {
      for (String file : FILES) {
        Files.deleteIfExists(dir.resolve(file));
      }
      Files.deleteIfExists(dir);
    }
  }
}
