package io.github.brightseg;

/**
 * Which engine runs the network. Today both choices run tract (pure Rust, CPU); a GPU choice
 * arrives with the ONNX Runtime backend. Every result records the backend that actually ran.
 */
public enum Backend {
    /** The best backend available on this machine. */
    AUTO("Auto"),
    /** The CPU backend (tract). */
    CPU("CPU");

    private final String label;

    Backend(String label) {
        this.label = label;
    }

    /** The name shown in dialogs and accepted in macros. */
    public String label() {
        return label;
    }

    /** All labels, in dialog order. */
    public static String[] labels() {
        Backend[] all = values();
        String[] labels = new String[all.length];
        for (int i = 0; i < all.length; i++) {
            labels[i] = all[i].label;
        }
        return labels;
    }

    /** The backend with this label (case-insensitive). */
    public static Backend fromLabel(String label) {
        for (Backend b : values()) {
            if (b.label.equalsIgnoreCase(label.trim())) {
                return b;
            }
        }
        throw new IllegalArgumentException(
                "unknown backend \"" + label + "\": choose one of " + String.join(", ", labels()));
    }
}
