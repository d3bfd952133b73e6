package io.github.brightseg;

/**
 * Receives progress of a Find Nuclei call, on the thread that made the call. Throwing from it
 * stops further reports; the exception reaches the caller when the work returns.
 */
@FunctionalInterface
public interface ProgressListener {
    /** The steps that report progress. */
    enum Stage {
        /** Running the network, tile by tile. */
        INFERENCE,
        /** Thresholding, splitting and measuring objects. */
        OBJECTS
    }

    /** {@code done} of {@code total} units of {@code stage} are finished. */
    void onProgress(Stage stage, int done, int total);
}
