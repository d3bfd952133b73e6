package io.github.brightseg;

import java.nio.file.Path;

/**
 * How a model is opened: worker threads, backend, for the ONNX Runtime backends which library to
 * load, and the limits that keep a large image from exhausting the machine (memory budget, tile
 * size). Immutable; {@code with…} return copies.
 */
public final class SegmenterOptions {
    private final int threads;
    private final Backend backend;
    private final Path onnxRuntimeLibrary;
    private final long memoryBudgetBytes;
    private final int tileSize;

    private SegmenterOptions(int threads, Backend backend, Path onnxRuntimeLibrary,
            long memoryBudgetBytes, int tileSize) {
        if (threads < 0) {
            throw new IllegalArgumentException(
                    "threads = " + threads + " is invalid: give 0 (one per core) or more");
        }
        if (backend == null) {
            throw new IllegalArgumentException("backend is null: use Backend.AUTO");
        }
        if (memoryBudgetBytes < 0) {
            throw new IllegalArgumentException("memory budget " + memoryBudgetBytes
                    + " bytes is invalid: give 0 (automatic) or a positive number of bytes");
        }
        if (tileSize < 0) {
            throw new IllegalArgumentException(
                    "tile size " + tileSize + " is invalid: give 0 (the model's) or more");
        }
        this.threads = threads;
        this.backend = backend;
        this.onnxRuntimeLibrary = onnxRuntimeLibrary;
        this.memoryBudgetBytes = memoryBudgetBytes;
        this.tileSize = tileSize;
    }

    /** One thread per core, best backend, ONNX Runtime looked for where it is usually installed. */
    public static SegmenterOptions defaults() {
        return new SegmenterOptions(0, Backend.AUTO, null, 0, 0);
    }

    /** Worker threads for the tiles of one image (0: one per core). */
    public SegmenterOptions withThreads(int threads) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary, memoryBudgetBytes,
                tileSize);
    }

    /** Backend choice. */
    public SegmenterOptions withBackend(Backend backend) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary, memoryBudgetBytes,
                tileSize);
    }

    /**
     * The ONNX Runtime library ({@code libonnxruntime.so} or its folder) for the ONNX Runtime
     * backends; {@code null} looks in {@code BRIGHTSEG_ORT_LIB}, then in installed
     * {@code onnxruntime}/{@code onnxruntime-gpu} Python wheels.
     */
    public SegmenterOptions withOnnxRuntimeLibrary(Path library) {
        return new SegmenterOptions(threads, backend, library, memoryBudgetBytes, tileSize);
    }

    /**
     * Native memory one image may use, in bytes; images that would need more are refused with a
     * {@link BrightsegException} saying how much they need. 0 (the default) is 80 % of the memory
     * this machine (or container) has beyond the Java heap's maximum. Calls running at once
     * (other threads, other Segmenters) draw from one pool in this JVM: a call that does not fit
     * beside them waits its turn, so together they stay within the budget.
     */
    public SegmenterOptions withMemoryBudget(long bytes) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary, bytes, tileSize);
    }

    /**
     * Preferred tile edge in pixels for models that take any size (0: the model's); smaller
     * tiles need less memory per worker thread.
     */
    public SegmenterOptions withTileSize(int pixels) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary, memoryBudgetBytes,
                pixels);
    }

    /** Worker threads (0: one per core). */
    public int threads() {
        return threads;
    }

    /** Backend choice. */
    public Backend backend() {
        return backend;
    }

    /** The ONNX Runtime library given, or {@code null} to look for one. */
    public Path onnxRuntimeLibrary() {
        return onnxRuntimeLibrary;
    }

    /** Memory budget in bytes (0: automatic). */
    public long memoryBudget() {
        return memoryBudgetBytes;
    }

    /** The budget actually used: the one given, else the automatic one (0 if unknown). */
    long effectiveMemoryBudget() {
        if (memoryBudgetBytes > 0) {
            return memoryBudgetBytes;
        }
        java.lang.management.OperatingSystemMXBean os =
                java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (!(os instanceof com.sun.management.OperatingSystemMXBean)) {
            return 0; // the native side then uses 80 % of the machine
        }
        long total = ((com.sun.management.OperatingSystemMXBean) os).getTotalMemorySize();
        long heap = Runtime.getRuntime().maxMemory();
        // The Java heap may grow to its maximum beside us; never plan on less than a quarter.
        long available = Math.max(total - (heap == Long.MAX_VALUE ? 0 : heap), total / 4);
        return (long) (available * 0.8);
    }

    /** Preferred tile edge (0: the model's). */
    public int tileSize() {
        return tileSize;
    }
}
