package io.github.brightseg;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Trains a nuclei U-Net for brightfield images from paired fluorescence or from nuclei drawn by
 * hand ({@link TrainingField#withLabels}, complete or {@link TrainingOptions#withIncompleteLabels
 * incomplete}): the stain of every field is turned into nucleus targets (background subtraction, automatic threshold, watershed split,
 * an "uncertain" band the loss ignores), a strip of every field is held out for validation, and
 * the network is trained on the CPU. The model folder it writes is one {@link Segmenter} opens
 * and Find Nuclei DNN lists. A run killed halfway resumes from its checkpoints when started
 * again with the same fields and options.
 *
 * <pre>{@code
 * TrainingResult r = NucleiTrainer.train(fields,
 *         TrainingOptions.named("my-nuclei", modelsDir).withPixelSizeUm(0.65)
 *                 .withTimeBudgetSeconds(1800),
 *         new TrainingListener() {
 *             public void onEpoch(int epoch, int max, double loss, double valLoss,
 *                     double f1, double best, double seconds) {
 *                 System.out.println("epoch " + epoch + ": F1 " + f1);
 *             }
 *         });
 * }</pre>
 */
public final class NucleiTrainer {
    private NucleiTrainer() {
    }

    /** Forwards native progress (called from Rust) to the listener, and the native log. */
    private static final class NativeTrainingProgress {
        private final TrainingListener listener;

        NativeTrainingProgress(TrainingListener listener) {
            this.listener = listener;
        }

        @SuppressWarnings("unused") // called from native code
        void onPreparing(int done, int total) {
            NativeLog.drain();
            listener.onPreparing(done, total);
        }

        @SuppressWarnings("unused") // called from native code
        void onStep(int epoch, int step, int stepsPerEpoch, double loss) {
            listener.onStep(epoch, step, stepsPerEpoch, loss);
        }

        @SuppressWarnings("unused") // called from native code
        void onEpoch(int epoch, int maxEpochs, double trainLoss, double validationLoss,
                double validationF1, double bestF1, double seconds) {
            NativeLog.drain();
            listener.onEpoch(epoch, maxEpochs, trainLoss, validationLoss, validationF1, bestF1,
                    seconds);
        }

        @SuppressWarnings("unused") // called from native code
        boolean isCancelled() {
            return listener.isCancelled();
        }
    }

    /**
     * Trains on {@code fields} and writes {@link TrainingOptions#modelFolder()}. Blocks until
     * training ends; call it on a worker thread to keep a user interface responsive.
     *
     * @param listener progress and cancel (may be null)
     * @throws IllegalArgumentException for bad fields or options (before any work)
     * @throws IOException when the model folder cannot be written, or a finished model of that
     *     name exists and {@link TrainingOptions#withReplaceExisting} was not given
     * @throws java.util.concurrent.CancellationException when cancelled before the first epoch
     *     ended (nothing was written)
     * @throws BrightsegException when training fails (the message says why)
     */
    public static TrainingResult train(List<TrainingField> fields, TrainingOptions options,
            TrainingListener listener) throws IOException {
        if (fields == null || fields.isEmpty()) {
            throw new IllegalArgumentException("no fields to train on");
        }
        boolean labelled = fields.get(0).isLabelled();
        for (TrainingField f : fields) {
            if (f.isLabelled() != labelled) {
                throw new IllegalArgumentException("\"" + f.name() + "\" has "
                        + (f.isLabelled() ? "drawn labels" : "a stain") + " but \""
                        + fields.get(0).name() + "\" " + (labelled ? "drawn labels" : "a stain")
                        + ": train on fields of one kind");
            }
        }
        if (options.incompleteLabels() && !labelled) {
            throw new IllegalArgumentException("incomplete labels need fields with drawn labels "
                    + "(TrainingField.withLabels), not a stain");
        }
        String settings = options.settings() + (labelled ? "targets=labels\n" : "");
        Path folder = options.modelFolder();
        if (!options.replaceExisting() && Files.exists(folder.resolve("bioimageio.yaml"))) {
            throw new IOException("a model named \"" + options.name() + "\" already exists in "
                    + folder.getParent() + ": choose another name, or allow replacing it");
        }
        long total = 0;
        for (TrainingField f : fields) {
            total += (long) f.width() * f.height();
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the fields hold " + total
                    + " pixels, more than one training call takes: train on fewer or smaller fields");
        }
        float[] brightfield = new float[(int) total];
        float[] targets = new float[(int) total];
        int[] sizes = new int[2 * fields.size()];
        StringBuilder names = new StringBuilder();
        int offset = 0;
        for (int k = 0; k < fields.size(); k++) {
            TrainingField f = fields.get(k);
            int n = f.width() * f.height();
            System.arraycopy(f.brightfield(), 0, brightfield, offset, n);
            System.arraycopy(f.targets(), 0, targets, offset, n);
            offset += n;
            sizes[2 * k] = f.width();
            sizes[2 * k + 1] = f.height();
            names.append(f.name()).append('\n');
        }
        Object progress = new NativeTrainingProgress(
                listener == null ? new TrainingListener() { } : listener);
        String report = NativeLib.call(() -> NativeLib.trainNuclei(settings, names.toString(),
                sizes, brightfield, targets, progress));
        return TrainingResult.parse(report);
    }
}
