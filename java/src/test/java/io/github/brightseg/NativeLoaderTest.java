package io.github.brightseg;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.Test;

/** The library comes out of the jar into a private, hash-named cache file. */
public class NativeLoaderTest {
    @Test
    public void libraryIsExtractedToAPrivateHashNamedCacheFile() throws Exception {
        NativeLib.ensureLoaded();
        assertEquals(NativeLib.jarVersion(), Segmenter.nativeVersion());
        Path root = NativeLoader.cacheRoot();
        List<Path> libraries;
        try (Stream<Path> files = Files.walk(root)) {
            libraries = files.filter(p -> p.getFileName().toString().equals("libbrightseg_jni.so"))
                    .collect(Collectors.toList());
        }
        assertEquals(libraries.toString(), 1, libraries.size());
        Path lib = libraries.get(0);
        byte[] bytes = Files.readAllBytes(lib);
        String hash = NativeLoader.sha256(bytes);
        assertEquals(hash.substring(0, 32), lib.getParent().getFileName().toString());
        assertEquals("rwx------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(lib.getParent())));
        try (Stream<Path> files = Files.list(lib.getParent())) {
            assertTrue("no temporary files are left behind",
                    files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
        assertTrue(NativeLoader.resourcePath().endsWith("/libbrightseg_jni.so"));
    }
}
