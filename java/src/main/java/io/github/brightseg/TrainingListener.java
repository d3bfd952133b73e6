package io.github.brightseg;

/**
 * Receives progress of {@link NucleiTrainer#train}, on the thread that called it, and may cancel
 * the training. Cancelling keeps the best epoch so far (the model folder is written from it);
 * cancelling before the first epoch ends throws {@link java.util.concurrent.CancellationException}.
 * Throwing from a method also stops the training; the exception reaches the caller.
 */
public interface TrainingListener {
    /**
     * The targets of {@code done} of {@code total} fields (training and validation) are ready;
     * reported before training starts, one field at a time.
     */
    default void onPreparing(int done, int total) {
    }

    /** Step {@code step} of {@code stepsPerEpoch} in epoch {@code epoch} (from 1) finished. */
    default void onStep(int epoch, int step, int stepsPerEpoch, double loss) {
    }

    /**
     * Epoch {@code epoch} of at most {@code maxEpochs} finished and was validated: mean training
     * loss, validation loss, validation object F1 (IoU 0.5), the best validation F1 so far, and
     * the seconds the epoch took.
     */
    default void onEpoch(int epoch, int maxEpochs, double trainLoss, double validationLoss,
            double validationF1, double bestF1, double seconds) {
    }

    /** Asked after every report: true stops the training after the current step. */
    default boolean isCancelled() {
        return false;
    }
}
