package io.github.brightseg;

/**
 * Settings of one Find Nuclei call. Immutable; {@code with…} return copies. NaN threshold,
 * minimum size or split depth means "the model's default"; NaN pixel size means the image is not calibrated (then
 * 1 µm per pixel is assumed, and the result says so).
 */
public final class NucleiParams {
    private final double threshold;
    private final double minSizeUm2;
    private final double pixelWidthUm;
    private final double pixelHeightUm;
    private final boolean split;
    private final double splitDepthPx;
    private final ProgressListener listener;
    private final byte[] exclusionMask;
    private final Refinement refinement;
    private final boolean probability;
    private final boolean anyPixelSize;

    private NucleiParams(double threshold, double minSizeUm2, double pixelWidthUm,
            double pixelHeightUm, boolean split, double splitDepthPx, ProgressListener listener,
            byte[] exclusionMask, Refinement refinement, boolean probability,
            boolean anyPixelSize) {
        this.threshold = threshold;
        this.minSizeUm2 = minSizeUm2;
        this.pixelWidthUm = pixelWidthUm;
        this.pixelHeightUm = pixelHeightUm;
        this.split = split;
        this.splitDepthPx = splitDepthPx;
        this.listener = listener;
        this.exclusionMask = exclusionMask;
        this.refinement = refinement;
        this.probability = probability;
        this.anyPixelSize = anyPixelSize;
    }

    /**
     * Model defaults, uncalibrated, touching nuclei split, no progress reports, the probability
     * image kept.
     */
    public static NucleiParams defaults() {
        return new NucleiParams(Double.NaN, Double.NaN, Double.NaN, Double.NaN, true, Double.NaN,
                null, null, Refinement.MODEL_DEFAULT, true, false);
    }

    /** Probability above which a pixel is nucleus, in [0, 1]. */
    public NucleiParams withThreshold(double threshold) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /** Smallest nucleus kept, µm². */
    public NucleiParams withMinSizeUm2(double minSizeUm2) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /** Square pixels of this size in µm. */
    public NucleiParams withPixelSizeUm(double pixelSizeUm) {
        return withPixelSizeUm(pixelSizeUm, pixelSizeUm);
    }

    /** Pixel width and height in µm. */
    public NucleiParams withPixelSizeUm(double widthUm, double heightUm) {
        return new NucleiParams(threshold, minSizeUm2, widthUm, heightUm, split, splitDepthPx,
                listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /** Whether touching nuclei are split (watershed on the distance transform). */
    public NucleiParams withSplit(boolean split) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /**
     * Depth in pixels a distance peak needs to seed its own nucleus (larger splits less); NaN
     * takes the model's (chosen on validation data by brightseg train; 0.5 when it names none).
     */
    public NucleiParams withSplitDepthPx(double splitDepthPx) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /** Where progress goes (may be null). */
    public NucleiParams withProgress(ProgressListener listener) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /**
     * Drops the nuclei that touch a non-zero pixel of {@code mask} (width × height, row-major;
     * e.g. the labels of Find Artifacts) and measures the rest; the result says how many were
     * dropped ({@link NucleiResult#excludedCount()}). Null: no exclusion.
     */
    public NucleiParams withExclusionMask(byte[] mask) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, mask, refinement, probability, anyPixelSize);
    }

    /**
     * How the image refines the thresholded mask ({@link Refinement#MODEL_DEFAULT}: what the
     * model's description says).
     */
    public NucleiParams withRefinement(Refinement refinement) {
        if (refinement == null) {
            throw new IllegalArgumentException("refinement is null: use Refinement.MODEL_DEFAULT");
        }
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, anyPixelSize);
    }

    /**
     * Whether the result keeps the probability image ({@link NucleiResult#probability()}).
     * Without it a call hands back one plane fewer: for a 2048 × 2048 image, 16 MB of Java heap
     * and the time to fill it; the nuclei are the same either way.
     */
    public NucleiParams withProbability(boolean keep) {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, keep, anyPixelSize);
    }

    /**
     * Runs even when the pixel size is more than 8 times larger or smaller than the model's.
     * By default such a call is refused with an {@link IllegalArgumentException}: the
     * calibration's unit is nearly always wrong (nm or mm given as µm), and resampling the image
     * to the model's pixel size could need more memory than the machine has.
     */
    public NucleiParams withAnyPixelSize() {
        return new NucleiParams(threshold, minSizeUm2, pixelWidthUm, pixelHeightUm, split,
                splitDepthPx, listener, exclusionMask, refinement, probability, true);
    }

    /** Whether a pixel size far from the model's is accepted ({@link #withAnyPixelSize()}). */
    public boolean acceptsAnyPixelSize() {
        return anyPixelSize;
    }

    /**
     * Micrometres per calibration unit ("µm", "micron", "nm", "mm", "cm", "inch", … in any case),
     * or NaN for a unit that is not a length (then give the pixel size in µm yourself, or treat
     * the image as uncalibrated). The same table the file readers and the command line use.
     */
    public static double micronsPerUnit(String unit) {
        if (unit == null) {
            return Double.NaN;
        }
        return NativeLib.call(() -> NativeLib.micronsPerUnit(unit));
    }

    /** Whether the probability image is kept. */
    public boolean keepsProbability() {
        return probability;
    }

    /** The refinement asked for. */
    public Refinement refinement() {
        return refinement;
    }

    /** The exclusion mask, or null. */
    public byte[] exclusionMask() {
        return exclusionMask;
    }

    /** Threshold, or NaN for the model's default. */
    public double threshold() {
        return threshold;
    }

    /** Minimum size µm², or NaN for the model's default. */
    public double minSizeUm2() {
        return minSizeUm2;
    }

    /** Pixel width µm, or NaN when uncalibrated. */
    public double pixelWidthUm() {
        return pixelWidthUm;
    }

    /** Pixel height µm, or NaN when uncalibrated. */
    public double pixelHeightUm() {
        return pixelHeightUm;
    }

    /** Whether touching nuclei are split. */
    public boolean split() {
        return split;
    }

    /** Split depth in pixels, or NaN for the model's. */
    public double splitDepthPx() {
        return splitDepthPx;
    }

    /** Progress listener, or null. */
    public ProgressListener progressListener() {
        return listener;
    }
}
