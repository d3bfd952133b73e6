package io.github.brightseg;

/**
 * Which engine runs the network. Every result records the backend that actually ran
 * ({@link Segmenter#backend()}, {@link NucleiResult}).
 */
public enum Backend {
    /** CUDA through ONNX Runtime when its GPU build and a GPU are found, else tract (CPU). */
    AUTO("Auto", "auto"),
    /** tract: pure Rust on the CPU, needs nothing installed. */
    CPU("CPU", "tract"),
    /** ONNX Runtime on the CPU (needs the onnxruntime library). */
    CPU_ONNXRUNTIME("CPU (ONNX Runtime)", "ort-cpu"),
    /**
     * ONNX Runtime with CUDA (needs the onnxruntime-gpu library); falls back to its CPU provider,
     * with a log line that says why, when CUDA cannot start.
     */
    GPU("GPU (CUDA)", "ort-cuda");

    private final String label;
    private final String nativeName;

    Backend(String label, String nativeName) {
        this.label = label;
        this.nativeName = nativeName;
    }

    /** The name shown in dialogs and accepted in macros. */
    public String label() {
        return label;
    }

    /** The name the CLI uses ({@code --backend}): auto, tract, ort-cpu, ort-cuda. */
    public String nativeName() {
        return nativeName;
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

    /** The backend with this label or CLI name (case-insensitive). */
    public static Backend fromLabel(String label) {
        String wanted = label.trim();
        for (Backend b : values()) {
            if (b.label.equalsIgnoreCase(wanted) || b.nativeName.equalsIgnoreCase(wanted)) {
                return b;
            }
        }
        throw new IllegalArgumentException("unknown backend \"" + label + "\": choose one of "
                + String.join(", ", labels()));
    }
}
