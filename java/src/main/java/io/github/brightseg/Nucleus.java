package io.github.brightseg;

/**
 * One nucleus: its label in the label image and its measurements. Positions are in µm with
 * ImageJ's convention (pixel centres at +0.5); the bounding box is in pixels.
 */
public final class Nucleus {
    private final double[] values;

    Nucleus(double[] packed, int offset, int length) {
        this.values = java.util.Arrays.copyOfRange(packed, offset, offset + length);
    }

    /** Label in the label image, from 1. */
    public int id() {
        return (int) values[0];
    }

    /** Area in µm². */
    public double areaUm2() {
        return values[1];
    }

    /** Centroid x in µm. */
    public double centroidXUm() {
        return values[2];
    }

    /** Centroid y in µm. */
    public double centroidYUm() {
        return values[3];
    }

    /** Bounding box left column, pixels. */
    public int bboxX() {
        return (int) values[4];
    }

    /** Bounding box top row, pixels. */
    public int bboxY() {
        return (int) values[5];
    }

    /** Bounding box width, pixels. */
    public int bboxWidth() {
        return (int) values[6];
    }

    /** Bounding box height, pixels. */
    public int bboxHeight() {
        return (int) values[7];
    }

    /** Mean model probability over the nucleus. */
    public double meanProbability() {
        return values[8];
    }

    /** Mean intensity of the input over the nucleus. */
    public double meanIntensity() {
        return values[9];
    }

    /** Minor over major axis of the fitted ellipse (ImageJ's "Round"). */
    public double roundness() {
        return values[10];
    }

    /** All values in {@link Columns#objects()} order. */
    public double[] values() {
        return values.clone();
    }
}
