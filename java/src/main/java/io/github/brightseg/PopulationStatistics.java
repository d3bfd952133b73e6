package io.github.brightseg;

/**
 * Harmony's population statistics of nucleus sizes: Number of Objects; Size [µm²] Mean, CV %,
 * StdDev (sample, n − 1), Median, Max, Min, Sum. For an empty population all but the count and
 * the sum are NaN.
 */
public final class PopulationStatistics {
    private final double[] values;

    PopulationStatistics(double[] packed, int offset, int length) {
        this.values = java.util.Arrays.copyOfRange(packed, offset, offset + length);
    }

    /** Number of Objects. */
    public int count() {
        return (int) values[0];
    }

    /** Size [µm²] Mean. */
    public double mean() {
        return values[1];
    }

    /** Size [µm²] CV % (100 × StdDev / Mean). */
    public double cvPercent() {
        return values[2];
    }

    /** Size [µm²] StdDev. */
    public double stdDev() {
        return values[3];
    }

    /** Size [µm²] Median. */
    public double median() {
        return values[4];
    }

    /** Size [µm²] Max. */
    public double max() {
        return values[5];
    }

    /** Size [µm²] Min. */
    public double min() {
        return values[6];
    }

    /** Size [µm²] Sum. */
    public double sum() {
        return values[7];
    }

    /** All values in {@link Columns#statistics()} order. */
    public double[] values() {
        return values.clone();
    }
}
