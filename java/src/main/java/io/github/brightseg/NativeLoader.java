package io.github.brightseg;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Finds and loads the native library, in this order:
 * <ol>
 * <li>the file named by the system property {@code brightseg.native.library}, if set;</li>
 * <li>the copy inside this jar ({@code /native/<os>-<arch>/libbrightseg_jni.so}), extracted to a
 * per-user cache folder ({@code $XDG_CACHE_HOME/brightseg/native/<sha256>/}, private to the
 * user) under a name given by its SHA-256, written to a temporary file and moved into place
 * atomically, and verified by hash before loading — so JVMs starting at once never see a
 * half-written file and nobody can swap it;</li>
 * <li>{@code System.loadLibrary("brightseg_jni")}, i.e. {@code java.library.path}.</li>
 * </ol>
 * Each load marks its cache folder as used; copies of other versions beyond the
 * {@value #KEEP_OTHER_VERSIONS} most recently used are removed, so updates do not fill the disk
 * (never one used within the last hour, which another JVM may be extracting right now).
 * The failure message lists every place tried and what to do.
 */
final class NativeLoader {
    static final String LIBRARY = "brightseg_jni";
    static final String PROPERTY = "brightseg.native.library";
    /** How many other versions' cached copies are kept beside the one being loaded. */
    static final int KEEP_OTHER_VERSIONS = 2;
    /** A cached copy used more recently than this is never removed. */
    static final long IN_USE_GRACE_MILLIS = 60L * 60 * 1000;

    private NativeLoader() {
    }

    /** The resource path of the library for this platform. */
    static String resourcePath() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "macos"
                : os.contains("win") ? "windows" : os.replace(' ', '_');
        String archName = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
                : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return "/native/" + osName + "-" + archName + "/" + System.mapLibraryName(LIBRARY);
    }

    /** Loads the library; throws {@link UnsatisfiedLinkError} explaining every attempt. */
    static void load() {
        List<String> tried = new ArrayList<>();
        String explicit = System.getProperty(PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            try {
                System.load(Paths.get(explicit).toAbsolutePath().toString());
                return;
            } catch (UnsatisfiedLinkError e) {
                tried.add("-D" + PROPERTY + "=" + explicit + ": " + e.getMessage());
            }
        }
        String resource = resourcePath();
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                tried.add("jar resource " + resource + ": not in this jar (no build for this "
                        + "platform)");
            } else {
                loadFromCache(in);
                return;
            }
        } catch (IOException | UnsatisfiedLinkError e) {
            tried.add("jar resource " + resource + " extracted to " + cacheRoot() + ": "
                    + e.getMessage());
        }
        try {
            System.loadLibrary(LIBRARY);
            return;
        } catch (UnsatisfiedLinkError e) {
            tried.add("java.library.path (" + System.getProperty("java.library.path") + "): "
                    + e.getMessage());
        }
        throw new UnsatisfiedLinkError("brightseg cannot load its native library "
                + System.mapLibraryName(LIBRARY) + ". Tried:\n  - " + String.join("\n  - ", tried)
                + "\nWhat to do: use the brightseg jar built for your platform (linux-x86_64), "
                + "make sure " + cacheRoot() + " is writable, or put the library in a folder "
                + "on java.library.path, or point -D" + PROPERTY + "= at it.");
    }

    static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isEmpty() ? Paths.get(xdg)
                : Paths.get(System.getProperty("user.home"), ".cache");
        return base.resolve("brightseg").resolve("native");
    }

    private static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static String hex(byte[] digest) {
        StringBuilder hex = new StringBuilder();
        for (byte b : digest) {
            hex.append(String.format("%02x", b & 0xff));
        }
        return hex.toString();
    }

    static String sha256(byte[] bytes) {
        return hex(sha256Digest().digest(bytes));
    }

    /**
     * The SHA-256 of everything {@code in} holds, copied to {@code out} on the way (either may
     * be null), in 64 kB pieces: the library is never held in the heap, whose room belongs to
     * the user's images (a whole-library buffer once made loading fail in a small Fiji heap).
     */
    private static String copyHashing(InputStream in, java.io.OutputStream out)
            throws IOException {
        MessageDigest digest = sha256Digest();
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
            digest.update(buffer, 0, n);
            if (out != null) {
                out.write(buffer, 0, n);
            }
        }
        return hex(digest.digest());
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return copyHashing(in, null);
        }
    }

    private static void createPrivateDirectories(Path dir) throws IOException {
        try {
            Files.createDirectories(dir,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir);
        }
    }

    /** Extracts the library read from {@code in} into its hash-named cache folder and loads it. */
    private static void loadFromCache(InputStream in) throws IOException {
        Path root = cacheRoot();
        createPrivateDirectories(root);
        Path temp = Files.createTempFile(root, "extract-", ".tmp");
        try {
            String hash;
            try (java.io.OutputStream out = Files.newOutputStream(temp)) {
                hash = copyHashing(in, out);
            }
            Path dir = root.resolve(hash.substring(0, 32));
            Path target = dir.resolve(System.mapLibraryName(LIBRARY));
            createPrivateDirectories(dir);
            boolean valid = Files.isRegularFile(target) && hash.equals(sha256(target));
            if (!valid) {
                try {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE,
                            StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
                } catch (FileAlreadyExistsException e) {
                    // Another JVM won the race with the same bytes.
                }
                if (!hash.equals(sha256(target))) {
                    throw new IOException("the extracted library " + target
                            + " does not match the jar's copy (changed on disk?)");
                }
            }
            markUsed(dir);
            pruneOtherVersions(root, dir, System.currentTimeMillis());
            try {
                System.load(target.toString());
            } catch (UnsatisfiedLinkError e) {
                String message = String.valueOf(e.getMessage());
                if (!message.contains("already loaded in another classloader")) {
                    throw e;
                }
                // A second class loader in the same JVM (ImageJ can make one) needs its own copy.
                Path privateCopy = Files.createTempFile(dir, "loader-", ".so");
                privateCopy.toFile().deleteOnExit();
                Files.copy(target, privateCopy, StandardCopyOption.REPLACE_EXISTING);
                System.load(privateCopy.toString());
            }
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static void markUsed(Path dir) {
        try {
            Files.setLastModifiedTime(dir, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException e) {
            // Only the pruning order depends on it.
        }
    }

    /**
     * Removes cached copies of other versions from {@code root}, keeping {@code current}, the
     * {@link #KEEP_OTHER_VERSIONS} most recently used others and any used within
     * {@link #IN_USE_GRACE_MILLIS} of {@code nowMillis}. Failures are ignored: a copy that cannot
     * be removed now is tried again at the next load.
     */
    static void pruneOtherVersions(Path root, Path current, long nowMillis) {
        List<Path> others;
        try (Stream<Path> entries = Files.list(root)) {
            others = entries.filter(p -> Files.isDirectory(p) && !p.equals(current))
                    .sorted(Comparator.comparingLong(NativeLoader::lastUsedMillis).reversed())
                    .collect(Collectors.toList());
        } catch (IOException e) {
            return;
        }
        for (Path old : others.subList(Math.min(KEEP_OTHER_VERSIONS, others.size()), others.size())) {
            if (nowMillis - lastUsedMillis(old) >= IN_USE_GRACE_MILLIS) {
                deleteTree(old);
            }
        }
    }

    private static long lastUsedMillis(Path dir) {
        try {
            return Files.getLastModifiedTime(dir).toMillis();
        } catch (IOException e) {
            return Long.MAX_VALUE; // unreadable: treat as in use, never removed
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // Left for the next load to try again.
        }
    }
}
