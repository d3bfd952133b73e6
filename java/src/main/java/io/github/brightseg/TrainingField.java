package io.github.brightseg;

/**
 * One field of view to train on: its brightfield (transmitted light) plane and the nuclear stain
 * (Hoechst/DAPI) plane of the same field, row-major, as 32-bit values. The stain is turned into
 * nucleus targets automatically; nobody draws a label.
 */
public final class TrainingField {
    private final String name;
    private final int width;
    private final int height;
    private final float[] brightfield;
    private final float[] stain;

    /**
     * @param name shown in reports and the model description (e.g. "plate1 A01 t3")
     * @throws IllegalArgumentException when the arrays do not hold width × height values
     */
    public TrainingField(String name, int width, int height, float[] brightfield, float[] stain) {
        if (name == null || name.trim().isEmpty() || name.contains("\n")) {
            throw new IllegalArgumentException("a training field needs a one-line name");
        }
        if (width < 16 || height < 16) {
            throw new IllegalArgumentException(name + ": " + width + " × " + height
                    + " pixels is too small to train on (16 × 16 at least)");
        }
        long n = (long) width * height;
        if (brightfield == null || stain == null || brightfield.length != n || stain.length != n) {
            throw new IllegalArgumentException(name + ": the brightfield and stain arrays must "
                    + "each hold width × height = " + n + " values");
        }
        this.name = name.trim();
        this.width = width;
        this.height = height;
        this.brightfield = brightfield;
        this.stain = stain;
    }

    /** Name in reports. */
    public String name() {
        return name;
    }

    /** Width in pixels. */
    public int width() {
        return width;
    }

    /** Height in pixels. */
    public int height() {
        return height;
    }

    float[] brightfield() {
        return brightfield;
    }

    float[] stain() {
        return stain;
    }
}
