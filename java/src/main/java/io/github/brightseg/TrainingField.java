package io.github.brightseg;

/**
 * One field of view to train on: its brightfield (transmitted light) plane and, row-major, either
 * the nuclear stain (Hoechst/DAPI) plane of the same field, which is turned into nucleus targets
 * automatically, or ({@link #withLabels}) nuclei drawn by hand as a label image.
 */
public final class TrainingField {
    /** The label of a pixel someone marked as sure background ({@link #withLabels}). */
    public static final int BACKGROUND = -1;

    private final String name;
    private final int width;
    private final int height;
    private final float[] brightfield;
    private final float[] targets;
    private final boolean labelled;

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
        this.targets = stain;
        this.labelled = false;
    }

    private TrainingField(TrainingField shape, float[] labels) {
        this.name = shape.name;
        this.width = shape.width;
        this.height = shape.height;
        this.brightfield = shape.brightfield;
        this.targets = labels;
        this.labelled = true;
    }

    /**
     * A field whose nuclei were drawn by hand (e.g. ROIs of the ROI Manager filled into an image):
     * {@code labels} holds 1, 2, … one number per nucleus, 0 where nothing was drawn and
     * {@link #BACKGROUND} (−1) where someone marked sure background. Whether 0 means background
     * or "not labelled" is {@link TrainingOptions#withIncompleteLabels}.
     *
     * @throws IllegalArgumentException when the arrays do not hold width × height values or a
     *     label is below −1
     */
    public static TrainingField withLabels(String name, int width, int height,
            float[] brightfield, int[] labels) {
        long n = (long) width * height;
        if (labels == null || labels.length != n) {
            throw new IllegalArgumentException(name + ": the label array must hold width × height = "
                    + n + " values");
        }
        float[] values = new float[labels.length];
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < BACKGROUND) {
                throw new IllegalArgumentException(name + ": label " + labels[i] + " is invalid: "
                        + "1, 2, … for nuclei, 0 for unlabelled pixels, -1 for sure background");
            }
            values[i] = labels[i];
        }
        return new TrainingField(new TrainingField(name, width, height, brightfield, values),
                values);
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

    /** Whether the nuclei of this field are drawn labels ({@link #withLabels}), not a stain. */
    public boolean isLabelled() {
        return labelled;
    }

    /** The stain plane, or the labels as 32-bit values. */
    float[] targets() {
        return targets;
    }
}
