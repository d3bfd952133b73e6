package io.github.brightseg;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Everything Find Nuclei produced for one plane: probability and label planes (row-major,
 * {@code width × height}), one {@link Nucleus} per label, the population statistics, and the
 * settings, calibration and backend that produced them.
 */
public final class NucleiResult {
    private final int width;
    private final int height;
    private final float[] probability;
    private final int[] labels;
    private final List<Nucleus> nuclei;
    private final PopulationStatistics statistics;
    private final double threshold;
    private final double minSizeUm2;
    private final double pixelWidthUm;
    private final double pixelHeightUm;
    private final boolean calibrated;
    private final String model;
    private final String backend;
    private final int excludedCount;
    private final double segmentationMillis;
    private final double uncertainPercent;
    private final boolean poorFit;

    NucleiResult(int width, int height, float[] probability, int[] labels, double[] packed,
            String model, String backend) {
        int[] layout = NativeLib.layout();
        int header = layout[0];
        int stats = layout[1];
        int perObject = layout[2];
        this.width = width;
        this.height = height;
        this.probability = probability;
        this.labels = labels;
        this.threshold = packed[0];
        this.minSizeUm2 = packed[1];
        this.pixelWidthUm = packed[2];
        this.pixelHeightUm = packed[3];
        this.calibrated = packed[4] != 0;
        int count = (int) packed[5];
        this.excludedCount = (int) packed[6];
        this.segmentationMillis = packed[7];
        this.uncertainPercent = packed[8];
        this.poorFit = packed[9] != 0;
        if (packed.length != header + stats + count * perObject) {
            throw new BrightsegException("native result has " + packed.length
                    + " values, expected " + (header + stats + count * perObject)
                    + ": the native library does not match this jar; reinstall brightseg");
        }
        this.statistics = new PopulationStatistics(packed, header, stats);
        List<Nucleus> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            list.add(new Nucleus(packed, header + stats + i * perObject, perObject));
        }
        this.nuclei = Collections.unmodifiableList(list);
        this.model = model;
        this.backend = backend;
    }

    /**
     * Milliseconds the native library spent segmenting (inference, objects, measurements, the
     * exclusion); the rest of the call's time is the Java bridge copying pixels and results.
     */
    public double segmentationMillis() {
        return segmentationMillis;
    }

    /** Nuclei dropped because they touched the exclusion mask (0 without one). */
    public int excludedCount() {
        return excludedCount;
    }

    /** Image width in pixels. */
    public int width() {
        return width;
    }

    /** Image height in pixels. */
    public int height() {
        return height;
    }

    /**
     * Probability of each pixel being nucleus, row-major (the array itself, not a copy); null
     * when the call's {@link NucleiParams#withProbability(boolean)} said not to keep it.
     */
    public float[] probability() {
        return probability;
    }

    /** Label of each pixel (0 = background, 1..n nuclei), row-major (not a copy). */
    public int[] labels() {
        return labels;
    }

    /** Largest label (the number of nuclei). */
    public int maxLabel() {
        return nuclei.size();
    }

    /** The nuclei, by label. */
    public List<Nucleus> nuclei() {
        return nuclei;
    }

    /** Harmony population statistics of nucleus sizes. */
    public PopulationStatistics statistics() {
        return statistics;
    }

    /** Threshold used. */
    public double threshold() {
        return threshold;
    }

    /** Minimum size used, µm². */
    public double minSizeUm2() {
        return minSizeUm2;
    }

    /** Pixel width used for µm values. */
    public double pixelWidthUm() {
        return pixelWidthUm;
    }

    /** Pixel height used for µm values. */
    public double pixelHeightUm() {
        return pixelHeightUm;
    }

    /** False when the image had no calibration and 1 µm per pixel was assumed. */
    public boolean calibrated() {
        return calibrated;
    }

    /**
     * How sure the model was of this plane: of the pixels it gave some chance of being a nucleus
     * (probability above 0.2), the percentage it left uncertain (below 0.8); NaN when it gave
     * none a chance. A model that suits the images outlines nuclei with thin uncertain rims
     * (about 14–16 % for the shipped model on its own assay); on images unlike its training data
     * it leaves wide blurry blobs (18–59 % on another lab's fields, where it finds almost none
     * of the nuclei). Each model has its own level. The "Uncertain Pixels [%]" column of the
     * summary.
     */
    public double uncertainPercent() {
        return uncertainPercent;
    }

    /**
     * True when {@link #uncertainPercent()} is more than 5 points above the level the model's
     * card states for images it suits ({@code config.brightseg.uncertain_percent}; never for a
     * model whose card states none): the model may not suit this image; fine-tune it on one
     * field with a nuclear stain ({@link NucleiTrainer}, starting from this model).
     */
    public boolean mayNotSuitImage() {
        return poorFit;
    }

    /** Name of the model that ran. */
    public String model() {
        return model;
    }

    /** The backend and device that ran the model, e.g. "tract (CPU)". */
    public String backend() {
        return backend;
    }
}
