package io.github.brightseg;

/** How a model is opened: worker threads and backend. Immutable; {@code with…} return copies. */
public final class SegmenterOptions {
    private final int threads;
    private final Backend backend;

    private SegmenterOptions(int threads, Backend backend) {
        if (threads < 0) {
            throw new IllegalArgumentException(
                    "threads = " + threads + " is invalid: give 0 (one per core) or more");
        }
        if (backend == null) {
            throw new IllegalArgumentException("backend is null: use Backend.AUTO");
        }
        this.threads = threads;
        this.backend = backend;
    }

    /** One thread per core, best backend. */
    public static SegmenterOptions defaults() {
        return new SegmenterOptions(0, Backend.AUTO);
    }

    /** Worker threads for the tiles of one image (0: one per core). */
    public SegmenterOptions withThreads(int threads) {
        return new SegmenterOptions(threads, backend);
    }

    /** Backend choice. */
    public SegmenterOptions withBackend(Backend backend) {
        return new SegmenterOptions(threads, backend);
    }

    /** Worker threads (0: one per core). */
    public int threads() {
        return threads;
    }

    /** Backend choice. */
    public Backend backend() {
        return backend;
    }
}
