package io.github.brightseg;

import java.io.InputStream;
import java.util.Properties;
import java.util.function.Supplier;

/**
 * Every native method of brightseg, in one class that loads the library first. The Rust side is
 * {@code rust/jni/src/lib.rs}; each export there names its declaration here. Conventions: NaN
 * means "not given"; errors arrive as {@link IllegalArgumentException}, {@link java.io.IOException},
 * {@link IllegalStateException} (closed handle) or {@link BrightsegException}.
 */
final class NativeLib {
    private static final Throwable LOAD_FAILURE;
    private static final int[] LAYOUT;

    static {
        Throwable failure = null;
        int[] layout = null;
        try {
            NativeLoader.load();
            layout = packedLayout();
            checkVersion();
        } catch (Throwable t) {
            failure = t;
        }
        LOAD_FAILURE = failure;
        LAYOUT = layout;
    }

    private NativeLib() {
    }

    /** Throws a {@link BrightsegException} saying why the library could not be loaded. */
    static void ensureLoaded() {
        if (LOAD_FAILURE != null) {
            throw new BrightsegException(String.valueOf(LOAD_FAILURE.getMessage()), LOAD_FAILURE);
        }
    }

    /** Runs a native call after making sure the library is there, then forwards its log. */
    static <T> T call(Supplier<T> nativeCall) {
        ensureLoaded();
        try {
            return nativeCall.get();
        } finally {
            NativeLog.drain();
        }
    }

    /** Header, statistics and per-object lengths of the packed result. */
    static int[] layout() {
        ensureLoaded();
        return LAYOUT.clone();
    }

    /** The version this jar was built as, or null when built without Gradle. */
    static String jarVersion() {
        try (InputStream in = NativeLib.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return null;
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static void checkVersion() {
        String jar = jarVersion();
        String lib = version();
        if (jar != null && !jar.startsWith(lib)) {
            throw new UnsatisfiedLinkError("the native library is version " + lib
                    + " but this jar is " + jar + ": remove old brightseg jars and libraries");
        }
    }

    static native String version();

    static native long open(String modelPath, int threads, String backend, String ortLibrary,
            long memoryBudget, int tileSize);

    static native void close(long handle);

    static native int openCount();

    static native String modelName(long handle);

    static native String backend(long handle);

    static native double[] modelDefaults(long handle);

    static native String discoverModels(String searchPath);

    static native double[] cardDefaults(String modelFolder);

    static native double micronsPerUnit(String unit);

    static native String resolveModel(String nameOrPath, String searchPath);

    static native String columns(int which);

    static native int[] packedLayout();

    static native String drainLog();

    static native void selfTestPanic(String message);

    static native double[] findNuclei8(long handle, byte[] pixels, int width, int height,
            double pixelWidthUm, double pixelHeightUm, double threshold, double minSizeUm2,
            boolean split, double splitDepthPx, int refine, boolean anyPixelSize,
            float[] probabilityOut,
            int[] labelsOut, byte[] exclusionMask, Object listener);

    static native double[] findNuclei16(long handle, short[] pixels, int width, int height,
            double pixelWidthUm, double pixelHeightUm, double threshold, double minSizeUm2,
            boolean split, double splitDepthPx, int refine, boolean anyPixelSize,
            float[] probabilityOut,
            int[] labelsOut, byte[] exclusionMask, Object listener);

    static native double[] findNuclei32(long handle, float[] pixels, int width, int height,
            double pixelWidthUm, double pixelHeightUm, double threshold, double minSizeUm2,
            boolean split, double splitDepthPx, int refine, boolean anyPixelSize,
            float[] probabilityOut,
            int[] labelsOut, byte[] exclusionMask, Object listener);

    static native String trainNuclei(String settings, String names, int[] sizes,
            float[] brightfield, float[] targets, Object listener);
}
