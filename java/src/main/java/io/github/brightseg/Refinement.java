package io.github.brightseg;

/**
 * How the image refines the thresholded mask before objects are made: the model's choice (its
 * description's {@code config.brightseg.refine}; artifact models trained on refined pseudo-masks
 * ask for {@link #DARK}), or one given here.
 */
public enum Refinement {
    /** What the model's description says (none for nucleus models). */
    MODEL_DEFAULT(-1, "model default"),
    /** The thresholded mask as it is. */
    NONE(0, "none"),
    /** Keep the pixels darker than their local background (absorbing artifacts). */
    DARK(1, "dark"),
    /** Keep the pixels darker or brighter than their local background. */
    DEPARTURE(2, "departure");

    private final int code;
    private final String label;

    Refinement(int code, String label) {
        this.code = code;
        this.label = label;
    }

    /** The number the native library takes. */
    int code() {
        return code;
    }

    /** The name dialogs, macros and the CLI use. */
    public String label() {
        return label;
    }

    /** The refinement called {@code label} (as {@link #label()} gives it, any case). */
    public static Refinement fromLabel(String label) {
        for (Refinement r : values()) {
            if (r.label.equalsIgnoreCase(label.trim())) {
                return r;
            }
        }
        throw new IllegalArgumentException("refinement '" + label
                + "': use model default, none, dark or departure");
    }
}
