package io.github.brightseg;

import java.nio.file.Path;

/**
 * How a model is opened: worker threads, backend and, for the ONNX Runtime backends, which
 * library to load. Immutable; {@code with…} return copies.
 */
public final class SegmenterOptions {
    private final int threads;
    private final Backend backend;
    private final Path onnxRuntimeLibrary;

    private SegmenterOptions(int threads, Backend backend, Path onnxRuntimeLibrary) {
        if (threads < 0) {
            throw new IllegalArgumentException(
                    "threads = " + threads + " is invalid: give 0 (one per core) or more");
        }
        if (backend == null) {
            throw new IllegalArgumentException("backend is null: use Backend.AUTO");
        }
        this.threads = threads;
        this.backend = backend;
        this.onnxRuntimeLibrary = onnxRuntimeLibrary;
    }

    /** One thread per core, best backend, ONNX Runtime looked for where it is usually installed. */
    public static SegmenterOptions defaults() {
        return new SegmenterOptions(0, Backend.AUTO, null);
    }

    /** Worker threads for the tiles of one image (0: one per core). */
    public SegmenterOptions withThreads(int threads) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary);
    }

    /** Backend choice. */
    public SegmenterOptions withBackend(Backend backend) {
        return new SegmenterOptions(threads, backend, onnxRuntimeLibrary);
    }

    /**
     * The ONNX Runtime library ({@code libonnxruntime.so} or its folder) for the ONNX Runtime
     * backends; {@code null} looks in {@code BRIGHTSEG_ORT_LIB}, then in installed
     * {@code onnxruntime}/{@code onnxruntime-gpu} Python wheels.
     */
    public SegmenterOptions withOnnxRuntimeLibrary(Path library) {
        return new SegmenterOptions(threads, backend, library);
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
}
