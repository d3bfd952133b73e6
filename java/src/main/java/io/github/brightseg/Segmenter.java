package io.github.brightseg;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open model that finds nuclei. Thread-safe: several threads may call {@code findNuclei} at
 * once (their tiles share the model's worker threads). Close it when done, best with
 * try-with-resources; closing twice is harmless, using it after close throws
 * {@link IllegalStateException}.
 *
 * <pre>{@code
 * try (Segmenter s = Segmenter.open(Paths.get("models/nuclei"), SegmenterOptions.defaults())) {
 *     NucleiResult r = s.findNuclei(pixels, width, height,
 *             NucleiParams.defaults().withPixelSizeUm(0.65).withThreshold(0.5));
 *     System.out.println(r.statistics().count() + " nuclei");
 * }
 * }</pre>
 */
public final class Segmenter implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    /** The handle, shared with the cleaner so a forgotten Segmenter is still released. */
    private static final class Handle implements Runnable {
        final AtomicLong value;

        Handle(long value) {
            this.value = new AtomicLong(value);
        }

        @Override
        public void run() {
            long h = value.getAndSet(0);
            if (h != 0) {
                NativeLib.close(h);
            }
        }
    }

    /** Forwards native progress (called from Rust as {@code onProgress(III)V}) and the log. */
    private static final class NativeProgress {
        private final ProgressListener listener;

        NativeProgress(ProgressListener listener) {
            this.listener = listener;
        }

        @SuppressWarnings("unused") // called from native code
        void onProgress(int stage, int done, int total) {
            NativeLog.drain();
            if (listener != null) {
                listener.onProgress(ProgressListener.Stage.values()[stage], done, total);
            }
        }
    }

    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final String modelName;
    private final String backend;
    private final double[] defaults;

    private Segmenter(long h) {
        this.handle = new Handle(h);
        this.cleanable = CLEANER.register(this, handle);
        this.modelName = NativeLib.call(() -> NativeLib.modelName(h));
        this.backend = NativeLib.call(() -> NativeLib.backend(h));
        this.defaults = NativeLib.call(() -> NativeLib.modelDefaults(h));
    }

    /**
     * Opens the model in {@code model} (a folder, or its {@code bioimageio.yaml}).
     *
     * @throws IOException when the folder or its files cannot be read
     * @throws BrightsegException when the model is unusable (the message says why)
     */
    public static Segmenter open(Path model, SegmenterOptions options) throws IOException {
        if (model == null) {
            throw new IllegalArgumentException("no model given");
        }
        if (!java.nio.file.Files.exists(model)) {
            throw new java.io.FileNotFoundException("model " + model + " not found: give a model "
                    + "folder (with bioimageio.yaml and an ONNX file) or its bioimageio.yaml");
        }
        SegmenterOptions opts = options == null ? SegmenterOptions.defaults() : options;
        String library =
                opts.onnxRuntimeLibrary() == null ? null : opts.onnxRuntimeLibrary().toString();
        long h = NativeLib.call(() -> NativeLib.open(model.toString(), opts.threads(),
                opts.backend().nativeName(), library, opts.effectiveMemoryBudget(),
                opts.tileSize()));
        return new Segmenter(h);
    }

    /** Opens {@code model} with default options. */
    public static Segmenter open(Path model) throws IOException {
        return open(model, SegmenterOptions.defaults());
    }

    /** The model's name (from its description). */
    public String modelName() {
        return modelName;
    }

    /**
     * The backend and device that run this model, e.g. "tract 0.23.9 (CPU)" or
     * "onnxruntime 1.31.1 on CUDA device 0".
     */
    public String backend() {
        return backend;
    }

    /** The model's default threshold. */
    public double defaultThreshold() {
        return defaults[0];
    }

    /** The model's default minimum size, µm². */
    public double defaultMinSizeUm2() {
        return defaults[1];
    }

    /** The pixel size the model was trained at, µm, or NaN when it does not say. */
    public double modelPixelSizeUm() {
        return defaults[2];
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return handle.value.get() == 0;
    }

    /** Finds nuclei in an 8-bit plane (ImageJ's {@code byte[]}, read as unsigned). */
    public NucleiResult findNuclei(byte[] pixels, int width, int height, NucleiParams params) {
        return run(pixels == null ? -1 : pixels.length, width, height, params,
                (h, p, prob, labels, progress) -> NativeLib.findNuclei8(
                h, pixels, width, height, p.pixelWidthUm(), p.pixelHeightUm(), p.threshold(),
                p.minSizeUm2(), p.split(), p.splitDepthPx(), p.refinement().code(),
                p.acceptsAnyPixelSize(), prob, labels,
                p.exclusionMask(),
                progress));
    }

    /** Finds nuclei in a 16-bit plane (ImageJ's {@code short[]}, read as unsigned). */
    public NucleiResult findNuclei(short[] pixels, int width, int height, NucleiParams params) {
        return run(pixels == null ? -1 : pixels.length, width, height, params,
                (h, p, prob, labels, progress) -> NativeLib.findNuclei16(
                h, pixels, width, height, p.pixelWidthUm(), p.pixelHeightUm(), p.threshold(),
                p.minSizeUm2(), p.split(), p.splitDepthPx(), p.refinement().code(),
                p.acceptsAnyPixelSize(), prob, labels,
                p.exclusionMask(),
                progress));
    }

    /** Finds nuclei in a 32-bit plane. */
    public NucleiResult findNuclei(float[] pixels, int width, int height, NucleiParams params) {
        return run(pixels == null ? -1 : pixels.length, width, height, params,
                (h, p, prob, labels, progress) -> NativeLib.findNuclei32(
                h, pixels, width, height, p.pixelWidthUm(), p.pixelHeightUm(), p.threshold(),
                p.minSizeUm2(), p.split(), p.splitDepthPx(), p.refinement().code(),
                p.acceptsAnyPixelSize(), prob, labels,
                p.exclusionMask(),
                progress));
    }

    /** Why the outputs of a {@code width × height} call do not fit the Java heap, and what helps. */
    static String heapMessage(int width, int height, long need, NucleiParams p) {
        long max = Runtime.getRuntime().maxMemory();
        String what = p.keepsProbability() ? "labels and probability" : "labels";
        String help = p.keepsProbability()
                ? "leave the probability image out (NucleiParams.withProbability(false); in "
                        + "Fiji, untick \"Probability image\"), or "
                : "";
        return String.format(java.util.Locale.ROOT, "the %s of a %d × %d image need %d MB of "
                + "Java heap, which has no room for them (it may grow to %d MB): %sgive Java more "
                + "memory (-Xmx, or Edit › Options › Memory & Threads in Fiji)", what, width,
                height, need >> 20, max >> 20, help);
    }

    @FunctionalInterface
    private interface NativeCall {
        double[] run(long handle, NucleiParams params, float[] probability, int[] labels,
                Object progress);
    }

    private NucleiResult run(int pixelCount, int width, int height, NucleiParams params,
            NativeCall call) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + " × " + height
                    + " is invalid: width and height must be positive");
        }
        long n = (long) width * height;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("image size " + width + " × " + height
                    + " is too large for one Java array; process it in parts");
        }
        // Checked before any output is allocated: a wrong size must not look like a full heap.
        if (pixelCount < 0) {
            throw new IllegalArgumentException("the pixels array is null");
        }
        if (pixelCount != n) {
            throw new IllegalArgumentException("the pixels array has " + pixelCount
                    + " values but width × height is " + n);
        }
        NucleiParams p = params == null ? NucleiParams.defaults() : params;
        lock.readLock().lock();
        try {
            long h = handle.value.get();
            if (h == 0) {
                throw new IllegalStateException("this Segmenter is closed");
            }
            float[] probability;
            int[] labels;
            long heapNeed = n * (p.keepsProbability() ? 8L : 4L);
            if (heapNeed > Runtime.getRuntime().maxMemory()) {
                throw new BrightsegException(heapMessage(width, height, heapNeed, p));
            }
            try {
                probability = p.keepsProbability() ? new float[(int) n] : null;
                labels = new int[(int) n];
            } catch (OutOfMemoryError e) {
                // One failed allocation of a large array leaves the heap as it was: say why.
                throw new BrightsegException(heapMessage(width, height, heapNeed, p), e);
            }
            byte[] mask = p.exclusionMask();
            if (mask != null && mask.length != n) {
                throw new IllegalArgumentException("the exclusion mask has " + mask.length
                        + " values but width × height is " + n);
            }
            NativeProgress progress = new NativeProgress(p.progressListener());
            double[] packed = NativeLib.call(() -> call.run(h, p, probability, labels, progress));
            return new NucleiResult(width, height, probability, labels, packed, modelName, backend);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Releases the model; waits for calls in progress on other threads; closing twice does
     * nothing. Called from inside a call on this Segmenter (a progress listener), it throws
     * {@link IllegalStateException} instead of waiting for ever.
     */
    @Override
    public void close() {
        if (lock.getReadHoldCount() > 0) {
            // This thread is inside a call on this Segmenter (a progress listener): waiting for
            // the call to end would wait for ever.
            throw new IllegalStateException("close() was called from inside a call on this "
                    + "Segmenter (a progress listener?): close it after findNuclei returns");
        }
        lock.writeLock().lock();
        try {
            cleanable.clean();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Number of models open in this JVM (for diagnostics and tests). */
    public static int openModels() {
        return NativeLib.call(NativeLib::openCount);
    }

    /** Version of the native library. */
    public static String nativeVersion() {
        return NativeLib.call(NativeLib::version);
    }
}
