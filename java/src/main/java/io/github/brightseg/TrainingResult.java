package io.github.brightseg;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;

/** What a training run wrote and how it went. */
public final class TrainingResult {
    /** Why training ended. */
    public enum Stop {
        /** Every epoch ran. */
        FINISHED,
        /** The validation F1 stopped improving (patience ran out). */
        EARLY_STOPPED,
        /** The time budget ran out. */
        TIME_BUDGET,
        /** The listener cancelled. */
        CANCELLED
    }

    private final String name;
    private final Path folder;
    private final Stop stop;
    private final int epochs;
    private final int bestEpoch;
    private final double validationF1;
    private final double threshold;
    private final double splitDepthPx;
    private final long parameters;
    private final int resumedAfter;
    private final double seconds;
    private final String engine;

    private TrainingResult(Map<String, String> values) {
        this.name = values.get("name");
        this.folder = Paths.get(values.get("folder"));
        this.stop = Stop.valueOf(values.get("stop").toUpperCase(java.util.Locale.ROOT));
        this.epochs = Integer.parseInt(values.get("epochs"));
        this.bestEpoch = Integer.parseInt(values.get("best_epoch"));
        this.validationF1 = Double.parseDouble(values.get("validation_f1"));
        this.threshold = Double.parseDouble(values.get("threshold"));
        this.splitDepthPx = Double.parseDouble(values.get("split_depth_px"));
        this.parameters = Long.parseLong(values.get("parameters"));
        this.resumedAfter = Integer.parseInt(values.get("resumed_after"));
        this.seconds = Double.parseDouble(values.get("seconds"));
        this.engine = values.getOrDefault("engine", "flex");
    }

    /** Parses the native report ({@code key=value} lines). */
    static TrainingResult parse(String report) {
        Map<String, String> values = new HashMap<>();
        for (String line : report.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        try {
            return new TrainingResult(values);
        } catch (RuntimeException e) {
            throw new BrightsegException("unreadable training report: " + report, e);
        }
    }

    /** The model's name (its folder's name). */
    public String name() {
        return name;
    }

    /** The model folder, ready for {@link Segmenter#open}. */
    public Path folder() {
        return folder;
    }

    /** Why training ended. */
    public Stop stop() {
        return stop;
    }

    /** Epochs run (including those of an earlier run this one resumed). */
    public int epochs() {
        return epochs;
    }

    /**
     * The epoch whose weights were kept (best validation F1); 0 when training started from a model
     * and no epoch beat it on the validation data, so the new model keeps its weights.
     */
    public int bestEpoch() {
        return bestEpoch;
    }

    /** Validation object F1 (IoU 0.5) of the kept model at its threshold. */
    public double validationF1() {
        return validationF1;
    }

    /** The probability threshold chosen on the validation data (the model's default). */
    public double threshold() {
        return threshold;
    }

    /**
     * The split depth in pixels chosen with the threshold on the validation data (the model's
     * default; see {@link NucleiParams#withSplitDepthPx}).
     */
    public double splitDepthPx() {
        return splitDepthPx;
    }

    /** Trainable parameters of the network. */
    public long parameters() {
        return parameters;
    }

    /** The epoch an interrupted earlier run had reached (0: started fresh). */
    public int resumedAfter() {
        return resumedAfter;
    }

    /** Seconds spent in training epochs (all runs). */
    public double seconds() {
        return seconds;
    }

    /** The engine that trained the model ({@code flex}: burn's pure-Rust CPU backend). */
    public String engine() {
        return engine;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT,
                "%s: %d epochs (%s) on %s, best epoch %d, validation F1 %.3f at threshold %.2f "
                        + "and split depth %s px, in %s",
                name, epochs, stop.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '),
                engine, bestEpoch, validationF1, threshold, splitDepthPx, folder);
    }
}
