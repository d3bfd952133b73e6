package io.github.brightseg;

/**
 * What a model's description suggests for Find Nuclei: the threshold, the minimum size and the
 * pixel size it was trained at ({@link Models#defaults}). A call whose {@link NucleiParams}
 * leave the threshold or minimum size unset (NaN) uses these values.
 */
public final class ModelDefaults {
    private final double threshold;
    private final double minSizeUm2;
    private final double pixelSizeUm;

    ModelDefaults(double threshold, double minSizeUm2, double pixelSizeUm) {
        this.threshold = threshold;
        this.minSizeUm2 = minSizeUm2;
        this.pixelSizeUm = pixelSizeUm;
    }

    /** Probability threshold, in [0, 1]. */
    public double threshold() {
        return threshold;
    }

    /** Minimum nucleus size in µm². */
    public double minSizeUm2() {
        return minSizeUm2;
    }

    /** Pixel size in µm the model expects, or NaN when its description gives none. */
    public double pixelSizeUm() {
        return pixelSizeUm;
    }

    @Override
    public String toString() {
        return "threshold " + threshold + ", minimum size " + minSizeUm2 + " µm², pixel size "
                + pixelSizeUm + " µm";
    }
}
