package io.github.brightseg;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * How {@link NucleiTrainer} trains: the model's name and the folder it goes in, the network, the
 * schedule, a time budget, and how targets come from the stain. Immutable; {@code with…} return
 * copies. Defaults suit a CPU: the tiny U-Net, up to 60 epochs of 40 steps (8 patches of
 * 128 × 128), early stopping after 12 epochs without gain, Otsu targets, objects from 10 µm².
 */
public final class TrainingOptions {
    private final String name;
    private final Path parent;
    private String architecture = "tiny";
    private int epochs = 60;
    private int stepsPerEpoch = 40;
    private int batch = 8;
    private int patch = 128;
    private int patience = 12;
    private int seed = 1;
    private int threads;
    private double timeBudgetSeconds;
    private double pixelSizeUm = Double.NaN;
    private double minSizeUm2 = 10;
    private double validationFraction = 0.2;
    private String thresholdMethod = "otsu";
    private Path startFrom;
    private boolean replaceExisting;
    private List<String> trainingData = Collections.emptyList();
    private boolean incompleteLabels;
    private double unlabelledWeight = 0.1;

    private TrainingOptions(String name, Path parent) {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("model name \"" + name + "\" is invalid: use "
                    + "letters, digits, '.', '-' and '_' (it becomes a folder name)");
        }
        if (parent == null) {
            throw new IllegalArgumentException("no folder to save the model in");
        }
        this.name = name;
        this.parent = parent;
    }

    /** Trains a model called {@code name}, written to the folder {@code parent/name}. */
    public static TrainingOptions named(String name, Path parent) {
        return new TrainingOptions(name, parent);
    }

    private TrainingOptions copy() {
        TrainingOptions c = new TrainingOptions(name, parent);
        c.architecture = architecture;
        c.epochs = epochs;
        c.stepsPerEpoch = stepsPerEpoch;
        c.batch = batch;
        c.patch = patch;
        c.patience = patience;
        c.seed = seed;
        c.threads = threads;
        c.timeBudgetSeconds = timeBudgetSeconds;
        c.pixelSizeUm = pixelSizeUm;
        c.minSizeUm2 = minSizeUm2;
        c.validationFraction = validationFraction;
        c.thresholdMethod = thresholdMethod;
        c.startFrom = startFrom;
        c.replaceExisting = replaceExisting;
        c.trainingData = trainingData;
        c.incompleteLabels = incompleteLabels;
        c.unlabelledWeight = unlabelledWeight;
        return c;
    }

    private static int positive(String what, int v) {
        if (v < 1) {
            throw new IllegalArgumentException(what + " = " + v + " is invalid: give 1 or more");
        }
        return v;
    }

    /**
     * "tiny" (30 thousand parameters, fast on a CPU), "fast" (the tiny network at half
     * resolution behind a stride-2 stem: a third of its running time, twice its field of view)
     * or "standard" (480 thousand parameters).
     */
    public TrainingOptions withArchitecture(String architecture) {
        String a = architecture == null ? "" : architecture.trim().toLowerCase(Locale.ROOT);
        if (!a.equals("tiny") && !a.equals("fast") && !a.equals("standard")) {
            throw new IllegalArgumentException("architecture \"" + architecture
                    + "\" is unknown: use tiny, fast or standard");
        }
        TrainingOptions c = copy();
        c.architecture = a;
        return c;
    }

    /** Most epochs to run. */
    public TrainingOptions withEpochs(int epochs) {
        TrainingOptions c = copy();
        c.epochs = positive("epochs", epochs);
        return c;
    }

    /** Training steps (batches) per epoch. */
    public TrainingOptions withStepsPerEpoch(int steps) {
        TrainingOptions c = copy();
        c.stepsPerEpoch = positive("steps per epoch", steps);
        return c;
    }

    /** Patches per step and their edge in pixels (a multiple of 8 for the presets). */
    public TrainingOptions withBatch(int batch, int patch) {
        TrainingOptions c = copy();
        c.batch = positive("batch", batch);
        c.patch = positive("patch", patch);
        return c;
    }

    /** Epochs without a better validation F1 before stopping. */
    public TrainingOptions withPatience(int patience) {
        TrainingOptions c = copy();
        c.patience = positive("patience", patience);
        return c;
    }

    /** Seed of the weights and of every random choice (same seed, same data: same model). */
    public TrainingOptions withSeed(int seed) {
        TrainingOptions c = copy();
        c.seed = seed;
        return c;
    }

    /** Worker threads (0: one per core). */
    public TrainingOptions withThreads(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("threads = " + threads + " is invalid: give 0 or more");
        }
        TrainingOptions c = copy();
        c.threads = threads;
        return c;
    }

    /** Stop after this many seconds, keeping the best epoch (0: no limit). */
    public TrainingOptions withTimeBudgetSeconds(double seconds) {
        if (!(seconds >= 0) || Double.isInfinite(seconds)) {
            throw new IllegalArgumentException("time budget " + seconds
                    + " s is invalid: give 0 (no limit) or a number of seconds");
        }
        TrainingOptions c = copy();
        c.timeBudgetSeconds = seconds;
        return c;
    }

    /** Pixel size of the fields in µm (required: sizes and the model description use it). */
    public TrainingOptions withPixelSizeUm(double um) {
        if (!(um > 0) || Double.isInfinite(um)) {
            throw new IllegalArgumentException("pixel size " + um + " µm is invalid");
        }
        TrainingOptions c = copy();
        c.pixelSizeUm = um;
        return c;
    }

    /** Smallest nucleus in µm², for the targets and the model's default minimum size. */
    public TrainingOptions withMinSizeUm2(double um2) {
        if (!(um2 >= 0) || Double.isInfinite(um2)) {
            throw new IllegalArgumentException("minimum size " + um2 + " µm² is invalid");
        }
        TrainingOptions c = copy();
        c.minSizeUm2 = um2;
        return c;
    }

    /** Share of every field's width (its right-hand strip) kept for validation, 0.05–0.5. */
    public TrainingOptions withValidationFraction(double fraction) {
        if (!(fraction >= 0.05 && fraction <= 0.5)) {
            throw new IllegalArgumentException("validation fraction " + fraction
                    + " is invalid: give 0.05 to 0.5");
        }
        TrainingOptions c = copy();
        c.validationFraction = fraction;
        return c;
    }

    /** Automatic threshold of the stain: "otsu", "li" or "triangle". */
    public TrainingOptions withThresholdMethod(String method) {
        String m = method == null ? "" : method.trim().toLowerCase(Locale.ROOT);
        if (!m.equals("otsu") && !m.equals("li") && !m.equals("triangle")) {
            throw new IllegalArgumentException("threshold method \"" + method
                    + "\" is unknown: use otsu, li or triangle");
        }
        TrainingOptions c = copy();
        c.thresholdMethod = m;
        return c;
    }

    /** Fine-tune from this model folder (one trained by brightseg); null: from scratch. */
    public TrainingOptions withStartFrom(Path model) {
        TrainingOptions c = copy();
        c.startFrom = model;
        return c;
    }

    /** Allow replacing a finished model of the same name (default: refused). */
    public TrainingOptions withReplaceExisting(boolean replace) {
        TrainingOptions c = copy();
        c.replaceExisting = replace;
        return c;
    }

    /** Lines describing the training data, for the model description. */
    public TrainingOptions withTrainingData(List<String> lines) {
        TrainingOptions c = copy();
        c.trainingData = Collections.unmodifiableList(new ArrayList<>(lines));
        return c;
    }

    /**
     * Whether drawn labels ({@link TrainingField#withLabels}) leave nuclei out (a few outlines
     * on a field): unlabelled pixels are then not trusted as background (they count with
     * {@link #withUnlabelledWeight}, 0.1), pixels labelled −1 are, and validation does not count
     * a nucleus found where nothing is known as a false positive. Default: complete labels.
     */
    public TrainingOptions withIncompleteLabels(boolean incomplete) {
        TrainingOptions c = copy();
        c.incompleteLabels = incomplete;
        return c;
    }

    /** Loss weight of unlabelled pixels for incomplete labels, in (0, 1]; 1 is the naive loss. */
    public TrainingOptions withUnlabelledWeight(double weight) {
        if (!(weight > 0 && weight <= 1)) {
            throw new IllegalArgumentException("unlabelled weight " + weight + " must be in "
                    + "(0, 1]");
        }
        TrainingOptions c = copy();
        c.unlabelledWeight = weight;
        return c;
    }

    /** Whether the labels leave nuclei out ({@link #withIncompleteLabels}). */
    public boolean incompleteLabels() {
        return incompleteLabels;
    }

    /** The model's name. */
    public String name() {
        return name;
    }

    /** The model folder that training writes: {@code parent/name}. */
    public Path modelFolder() {
        return parent.resolve(name);
    }

    /** Whether a finished model of this name may be replaced. */
    public boolean replaceExisting() {
        return replaceExisting;
    }

    /** The settings as the native side reads them: {@code key=value} lines. */
    String settings() {
        if (Double.isNaN(pixelSizeUm)) {
            throw new IllegalArgumentException("no pixel size: calibrate the images or give "
                    + "TrainingOptions.withPixelSizeUm");
        }
        StringBuilder s = new StringBuilder();
        line(s, "name", name);
        line(s, "out", modelFolder().toAbsolutePath().toString());
        line(s, "architecture", architecture);
        line(s, "epochs", epochs);
        line(s, "steps", stepsPerEpoch);
        line(s, "batch", batch);
        line(s, "patch", patch);
        line(s, "patience", patience);
        line(s, "seed", seed);
        line(s, "threads", threads);
        line(s, "time_budget_s", timeBudgetSeconds);
        line(s, "pixel_um", pixelSizeUm);
        line(s, "min_size_um2", minSizeUm2);
        line(s, "val_fraction", validationFraction);
        line(s, "threshold_method", thresholdMethod);
        if (startFrom != null) {
            line(s, "from", startFrom.toAbsolutePath().toString());
        }
        for (String d : trainingData) {
            line(s, "training_data", d);
        }
        if (incompleteLabels) {
            line(s, "labels_incomplete", true);
            line(s, "unlabelled_weight", unlabelledWeight);
        }
        return s.toString();
    }

    private static void line(StringBuilder s, String key, Object value) {
        String v = String.valueOf(value);
        if (v.contains("\n") || v.contains("\r")) {
            throw new IllegalArgumentException(key + " must be one line: " + v);
        }
        s.append(key).append('=').append(v).append('\n');
    }
}
