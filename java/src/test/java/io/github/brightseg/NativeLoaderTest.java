package io.github.brightseg;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The library comes out of the jar into a private, hash-named cache file. */
public class NativeLoaderTest {
    /** Every folder a test makes, removed after it (each cache holds a 40 MB library). */
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void libraryIsExtractedToAPrivateHashNamedCacheFile() throws Exception {
        NativeLib.ensureLoaded();
        assertEquals(NativeLib.jarVersion(), Segmenter.nativeVersion());
        byte[] packed = NativeLoader.class.getResourceAsStream(NativeLoader.resourcePath()).readAllBytes();
        String hash = NativeLoader.sha256(packed);
        Path lib = NativeLoader.cacheRoot().resolve(hash.substring(0, 32)).resolve("libbrightseg_jni.so");
        assertTrue(lib + " exists", Files.isRegularFile(lib));
        assertEquals(hash, NativeLoader.sha256(Files.readAllBytes(lib)));
        assertEquals("rwx------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(lib.getParent())));
        try (Stream<Path> files = Files.list(lib.getParent())) {
            assertTrue("no temporary files are left behind",
                    files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
        assertTrue(NativeLoader.resourcePath().endsWith("/libbrightseg_jni.so"));
    }

    /** Runs {@link LoaderProbe} in {@code n} JVMs at once; returns their output lines. */
    private static List<String> probe(int n, String classpath, Path cache, String... jvmArgs)
            throws Exception {
        List<Process> processes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<String> cmd = new ArrayList<>();
            cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
            for (String a : jvmArgs) {
                cmd.add(a);
            }
            cmd.add("-cp");
            cmd.add(classpath);
            cmd.add(LoaderProbe.class.getName());
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().put("XDG_CACHE_HOME", cache.toString());
            processes.add(pb.start());
        }
        List<String> lines = new ArrayList<>();
        for (Process p : processes) {
            assertTrue("a probe JVM hung", p.waitFor(120, TimeUnit.SECONDS));
            String out = new String(p.getInputStream().readAllBytes(), "UTF-8").trim();
            lines.add(out.substring(out.lastIndexOf('\n') + 1));
        }
        return lines;
    }

    @Test
    public void sixJvmsStartingAtOnceShareOneExtractedCopy() throws Exception {
        Path cache = tmp.newFolder("brightseg-cache").toPath();
        List<String> lines = probe(6, System.getProperty("java.class.path"), cache);
        for (String line : lines) {
            assertEquals("VERSION " + Segmenter.nativeVersion(), line);
        }
        try (Stream<Path> files = Files.walk(cache)) {
            List<Path> all = files.filter(Files::isRegularFile).collect(Collectors.toList());
            assertEquals(all.toString(), 1, all.size());
        }
    }

    /**
     * The library is streamed out of the jar, never held in the heap: a JVM whose whole heap is
     * smaller than the library still loads it (a Fiji with a small heap and a large image open
     * used to fail with "Java heap space" for the rest of the session).
     */
    @Test
    public void aHeapSmallerThanTheLibraryStillLoadsIt() throws Exception {
        long size;
        try (java.io.InputStream in = NativeLoader.class.getResourceAsStream(
                NativeLoader.resourcePath())) {
            size = in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        long heapMb = 16;
        assertTrue("the library (" + size + " bytes) is larger than the heap",
                size > heapMb << 20);
        Path cache = tmp.newFolder("brightseg-cache").toPath();
        String line = probe(1, System.getProperty("java.class.path"), cache,
                "-Xmx" + heapMb + "m").get(0);
        assertEquals("VERSION " + Segmenter.nativeVersion(), line);
    }

    @Test
    public void withoutTheJarCopyItFallsBackToJavaLibraryPathOrSaysWhatToDo() throws Exception {
        // The classes alone, without the resources that carry the library.
        String classes = Paths.get(NativeLib.class.getProtectionDomain().getCodeSource()
                .getLocation().toURI()) + java.io.File.pathSeparator
                + Paths.get(LoaderProbe.class.getProtectionDomain().getCodeSource()
                        .getLocation().toURI());
        Path cache = tmp.newFolder("brightseg-cache").toPath();
        Path empty = tmp.newFolder("no-library-here").toPath();
        String failure = probe(1, classes, cache, "-Djava.library.path=" + empty).get(0);
        assertTrue(failure, failure.startsWith("ERROR brightseg cannot load its native library"));
        assertTrue(failure, failure.contains("not in this jar"));
        assertTrue(failure, failure.contains("java.library.path (" + empty + ")"));
        assertTrue(failure, failure.contains("What to do"));
        // With the library on java.library.path it loads from there.
        Path lib = tmp.newFolder("library-path").toPath();
        Files.copy(NativeLoader.class.getResourceAsStream(NativeLoader.resourcePath()),
                lib.resolve("libbrightseg_jni.so"));
        String loaded = probe(1, classes, cache, "-Djava.library.path=" + lib).get(0);
        assertEquals("VERSION " + Segmenter.nativeVersion(), loaded);
        // And an explicit file wins over everything.
        String explicit = probe(1, classes, cache,
                "-Dbrightseg.native.library=" + lib.resolve("libbrightseg_jni.so")).get(0);
        assertEquals("VERSION " + Segmenter.nativeVersion(), explicit);
    }

    @Test
    public void copiesOfOtherVersionsArePrunedButRecentOnesAreKept() throws Exception {
        Path root = tmp.newFolder("native").toPath();
        long now = System.currentTimeMillis();
        long minute = 60_000L;
        long day = 24 * 60 * minute;
        String[] names = {"current", "used10min", "used20min", "used30min", "used2d", "used3d", "used10d"};
        long[] ages = {100 * day, 10 * minute, 20 * minute, 30 * minute, 2 * day, 3 * day, 10 * day};
        for (int i = 0; i < names.length; i++) {
            Path dir = Files.createDirectory(root.resolve(names[i]));
            Files.write(dir.resolve("libbrightseg_jni.so"), new byte[] {1, 2, 3});
            Files.setLastModifiedTime(dir, FileTime.fromMillis(now - ages[i]));
        }
        NativeLoader.pruneOtherVersions(root, root.resolve("current"), now);
        try (Stream<Path> left = Files.list(root)) {
            List<String> kept = left.map(p -> p.getFileName().toString()).sorted()
                    .collect(Collectors.toList());
            // The current one however old, the two most recently used others, and the one
            // used within the hour (another JVM may be starting with it).
            assertEquals(Arrays.asList("current", "used10min", "used20min", "used30min"), kept);
        }
    }
}
