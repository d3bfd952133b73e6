package io.github.brightseg.fiji;

import ij.Macro;
import ij.gui.GenericDialog;

import io.github.brightseg.Backend;
import io.github.brightseg.Refinement;

/**
 * Every field of Find Nuclei DNN: its dialog label, its macro key and its default, in one place.
 * An ImageJ 1.x macro key is the first word of the label, lowercased, so first words are unique:
 *
 * <pre>
 * channel=2 model=nuclei-brightfield threshold=0.5 minimum=10 [refine=[model default]] population=Nuclei
 * image=[Nuclei Prediction] probability label outlines backend=Auto [onnx=/path/to/libonnxruntime.so]
 * [memory=4096] [exclude artifact=artifacts-brightfield]
 * </pre>
 *
 * Find Artifacts DNN takes the same keys (population and image default to "Artifacts" and
 * "Artifact Prediction"; no exclusion). {@code exclude} drops nuclei that touch an artifact found
 * by the {@code artifact=} model (default artifacts-brightfield).
 *
 * {@code model} takes a model name from the list or a model folder path; {@code custom=} (or
 * {@code folder=}, recorded when the folder was picked with the chooser) gives the folder when
 * {@code model=[Custom...]}. Checkboxes are on when their key is present. {@code memory} is the
 * native memory budget in MB (0 or missing: 80 % of what the Java heap's maximum leaves). In a
 * macro, a missing threshold or minimum size means the model's default; a missing channel is an
 * error for images with several channels. {@code refine} (model default, none, dark, departure)
 * says how the image refines the thresholded mask; missing: the model's choice (artifact models
 * trained on refined pseudo-masks: dark).
 */
final class FindNucleiSettings {
    static final String CHANNEL = "Channel";
    static final String MODEL = "Model";
    static final String CUSTOM = "Custom model folder";
    static final String THRESHOLD = "Threshold";
    static final String MINIMUM = "Minimum size [µm²]";
    static final String REFINE = "Refine mask by image";
    static final String POPULATION = "Population name";
    static final String IMAGE = "Image name (probability)";
    static final String PROBABILITY = "Probability image";
    static final String LABEL = "Label image";
    static final String OUTLINES = "Outlines in ROI Manager";
    static final String BACKEND = "Backend";
    static final String ONNX_RUNTIME = "ONNX Runtime library (empty: search)";
    static final String MEMORY = "Memory budget [MB] (0: automatic)";
    static final String EXCLUDE = "Exclude nuclei on artifacts";
    static final String ARTIFACT_MODEL = "Artifact model";
    static final String DEFAULT_ARTIFACT_MODEL = "artifacts-brightfield";
    /** ImageJ preference remembering the memory budget between sessions. */
    static final String MEMORY_PREF = "brightseg.memoryBudgetMB";
    /** ImageJ preference remembering the ONNX Runtime library between sessions. */
    static final String ONNX_RUNTIME_PREF = "brightseg.onnxruntime";
    static final String CUSTOM_CHOICE = "Custom...";
    /** Key the recorder uses for a folder picked with the folder chooser after the dialog. */
    static final String FOLDER_KEY = "folder";

    static final double DEFAULT_THRESHOLD = 0.5;
    static final double DEFAULT_MINIMUM = 10;
    static final String DEFAULT_POPULATION = "Nuclei";
    static final String DEFAULT_IMAGE = "Nuclei Prediction";

    /** Channel, from 1; 0 when not given. */
    int channel;
    /** Model name or folder. */
    String model = "";
    /** Probability threshold; NaN for the model's default. */
    double threshold = DEFAULT_THRESHOLD;
    /** Minimum size µm²; NaN for the model's default. */
    double minimumUm2 = DEFAULT_MINIMUM;
    /** How the image refines the thresholded mask. */
    Refinement refinement = Refinement.MODEL_DEFAULT;
    String population = DEFAULT_POPULATION;
    String imageName = DEFAULT_IMAGE;
    boolean probability = true;
    boolean labelImage = true;
    boolean outlines = true;
    Backend backend = Backend.AUTO;
    /** libonnxruntime.so (or its folder) for the ONNX Runtime backends; empty: search. */
    String onnxRuntimeLibrary = ij.Prefs.get(ONNX_RUNTIME_PREF, "");
    /** Native memory budget in MB; 0: automatic. */
    double memoryBudgetMB = ij.Prefs.get(MEMORY_PREF, 0.0);
    /** Drop nuclei that touch an artifact of {@link #artifactModel}. */
    boolean excludeArtifacts;
    /** The artifact model for the exclusion. */
    String artifactModel = DEFAULT_ARTIFACT_MODEL;

    /** Last settings used in each command's dialog (ImageJ keeps dialog choices per session). */
    private static final java.util.Map<Population, FindNucleiSettings> LAST =
            new java.util.EnumMap<>(Population.class);

    private static FindNucleiSettings fresh(Population kind) {
        FindNucleiSettings s = new FindNucleiSettings();
        s.population = kind.defaultPopulation;
        s.imageName = kind.defaultImage;
        return s;
    }

    /** The macro key of a label: its first word, lowercased, cut at ':'. */
    static String key(String label) {
        String first = label.split(" ")[0];
        int colon = first.indexOf(':');
        return (colon >= 0 ? first.substring(0, colon) : first).toLowerCase(java.util.Locale.ROOT);
    }

    /** Settings from macro options; missing values follow the class comment. */
    static FindNucleiSettings fromMacro(String options) {
        return fromMacro(options, Population.NUCLEI);
    }

    /** Settings of {@code kind}'s command from macro options. */
    static FindNucleiSettings fromMacro(String options, Population kind) {
        FindNucleiSettings s = fresh(kind);
        String channel = Macro.getValue(options, key(CHANNEL), null);
        if (channel != null) {
            try {
                s.channel = Integer.parseInt(channel.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("channel=" + channel
                        + " is not a channel number: give channel=1, channel=2, …");
            }
            if (s.channel < 1) {
                throw new IllegalArgumentException("channel=" + channel + " is invalid: channels count from 1");
            }
        }
        s.model = Macro.getValue(options, key(MODEL), "").trim();
        if (s.model.equalsIgnoreCase(CUSTOM_CHOICE) || s.model.isEmpty()) {
            s.model = Macro.getValue(options, key(CUSTOM), "").trim();
            if (s.model.isEmpty()) {
                s.model = Macro.getValue(options, FOLDER_KEY, "").trim();
            }
        }
        if (s.model.isEmpty()) {
            throw new IllegalArgumentException(
                    "no model given: add model=<name or folder> to the options");
        }
        s.threshold = number(options, THRESHOLD);
        s.minimumUm2 = number(options, MINIMUM);
        s.refinement = Refinement.fromLabel(
                Macro.getValue(options, key(REFINE), Refinement.MODEL_DEFAULT.label()));
        s.population = Macro.getValue(options, key(POPULATION), kind.defaultPopulation).trim();
        s.imageName = Macro.getValue(options, key(IMAGE), kind.defaultImage).trim();
        s.probability = flag(options, PROBABILITY);
        s.labelImage = flag(options, LABEL);
        s.outlines = flag(options, OUTLINES);
        s.backend = Backend.fromLabel(Macro.getValue(options, key(BACKEND), Backend.AUTO.label()));
        s.onnxRuntimeLibrary =
                Macro.getValue(options, key(ONNX_RUNTIME), s.onnxRuntimeLibrary).trim();
        double memory = number(options, MEMORY);
        s.memoryBudgetMB = Double.isNaN(memory) ? s.memoryBudgetMB : memory;
        s.excludeArtifacts = flag(options, EXCLUDE);
        s.artifactModel = Macro.getValue(options, key(ARTIFACT_MODEL), DEFAULT_ARTIFACT_MODEL)
                .trim();
        if (s.excludeArtifacts && kind != Population.NUCLEI) {
            throw new IllegalArgumentException("exclude belongs to Find Nuclei DNN");
        }
        s.check();
        return s;
    }

    private static double number(String options, String label) {
        String value = Macro.getValue(options, key(label), null);
        if (value == null) {
            return Double.NaN;
        }
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key(label) + "=" + value + " is not a number");
        }
    }

    private static boolean flag(String options, String label) {
        // A checkbox key stands alone ("outlines") or with a value ("outlines=true").
        String key = key(label);
        for (String word : (" " + options + " ").split("\\s+")) {
            if (word.equals(key)) {
                return true;
            }
        }
        String value = Macro.getValue(options, key, null);
        return value != null && !value.equalsIgnoreCase("false");
    }

    /** Range checks, before any work. */
    void check() {
        if (!Double.isNaN(threshold) && !(threshold >= 0 && threshold <= 1)) {
            throw new IllegalArgumentException("threshold " + threshold
                    + " is outside [0, 1]: it is a probability (0.5 is usual)");
        }
        if (!Double.isNaN(minimumUm2) && !(minimumUm2 >= 0 && !Double.isInfinite(minimumUm2))) {
            throw new IllegalArgumentException("minimum size " + minimumUm2
                    + " µm² is invalid: give 0 or more (10 is usual)");
        }
        if (!(memoryBudgetMB >= 0 && memoryBudgetMB < 1e12)) {
            throw new IllegalArgumentException("memory budget " + memoryBudgetMB
                    + " MB is invalid: give 0 (automatic) or a number of megabytes");
        }
        if (population.isEmpty()) {
            throw new IllegalArgumentException("the population name is empty: give one, e.g. Nuclei");
        }
        if (probability && imageName.isEmpty()) {
            throw new IllegalArgumentException("the probability image name is empty");
        }
    }

    /**
     * Builds {@code kind}'s dialog with the last used values. Threshold and minimum size start at
     * the chosen model's own ({@code defaultsOf}: a model name to its {threshold, minimum size},
     * or null when unknown), as a macro that leaves them out would use, unless this model was
     * used last with other values; choosing another model in the dialog moves fields still at
     * the previous model's values to the new one's.
     */
    static GenericDialog dialog(Population kind, String[] channels, int currentChannel,
            String[] models, String calibrationNote,
            java.util.function.Function<String, double[]> defaultsOf) {
        FindNucleiSettings l = LAST.computeIfAbsent(kind, FindNucleiSettings::fresh);
        GenericDialog gd = new GenericDialog(kind.title);
        if (channels.length > 1) {
            gd.addChoice(CHANNEL, channels, channels[Math.max(0, currentChannel - 1)]);
        }
        String model = l.model;
        boolean known = false;
        for (String m : models) {
            known |= m.equals(model);
        }
        String preset = kind == Population.ARTIFACTS
                ? artifactChoice(models, DEFAULT_ARTIFACT_MODEL) : models[0];
        String chosen = known ? model : preset;
        gd.addChoice(MODEL, models, chosen);
        gd.addStringField(CUSTOM, known ? "" : model, 30);
        double[] suggested = suggested(defaultsOf, chosen);
        boolean lastValues = known && !Double.isNaN(l.threshold) && !Double.isNaN(l.minimumUm2);
        gd.addNumericField(THRESHOLD, lastValues ? l.threshold : suggested[0], 2);
        gd.addNumericField(MINIMUM, lastValues ? l.minimumUm2 : suggested[1], 1);
        followModelDefaults(gd, defaultsOf, suggested);
        gd.addChoice(REFINE, refinementLabels(), l.refinement.label());
        gd.addMessage("Output");
        gd.addStringField(POPULATION, l.population, 20);
        gd.addStringField(IMAGE, l.imageName, 20);
        gd.addCheckbox(PROBABILITY, l.probability);
        gd.addCheckbox(LABEL, l.labelImage);
        gd.addCheckbox(OUTLINES, l.outlines);
        gd.addChoice(BACKEND, Backend.labels(), l.backend.label());
        gd.addStringField(ONNX_RUNTIME, l.onnxRuntimeLibrary, 30);
        gd.addNumericField(MEMORY, l.memoryBudgetMB, 0);
        if (kind == Population.NUCLEI) {
            gd.addCheckbox(EXCLUDE, l.excludeArtifacts);
            gd.addChoice(ARTIFACT_MODEL, models, artifactChoice(models, l.artifactModel));
        }
        if (calibrationNote != null) {
            gd.addMessage(calibrationNote);
        }
        gd.addHelp("https://github.com/brightseg/brightseg#fiji");
        return gd;
    }

    /** {@code model}'s {threshold, minimum size}, or 0.5 and 10 µm² when it cannot be read. */
    private static double[] suggested(java.util.function.Function<String, double[]> defaultsOf,
            String model) {
        double[] d = model.equals(CUSTOM_CHOICE) ? null : defaultsOf.apply(model);
        return d == null ? new double[] {DEFAULT_THRESHOLD, DEFAULT_MINIMUM} : d;
    }

    /**
     * When the Model choice changes, threshold and minimum size fields that still hold the
     * previous model's values take the new model's (values the user typed stay).
     */
    private static void followModelDefaults(GenericDialog gd,
            java.util.function.Function<String, double[]> defaultsOf, double[] initial) {
        java.util.Vector<?> choices = gd.getChoices();
        java.util.Vector<?> numbers = gd.getNumericFields();
        if (choices == null || numbers == null || numbers.size() < 2) {
            return;
        }
        // The Model choice is the one listing Custom...; the first two numbers follow it.
        java.awt.Choice modelChoice = null;
        for (Object c : choices) {
            java.awt.Choice choice = (java.awt.Choice) c;
            for (int i = 0; i < choice.getItemCount(); i++) {
                if (choice.getItem(i).equals(CUSTOM_CHOICE) && modelChoice == null) {
                    modelChoice = choice;
                }
            }
        }
        if (modelChoice == null) {
            return;
        }
        java.awt.TextField threshold = (java.awt.TextField) numbers.get(0);
        java.awt.TextField minimum = (java.awt.TextField) numbers.get(1);
        double[] shown = initial.clone();
        java.awt.Choice watched = modelChoice;
        watched.addItemListener(e -> {
            double[] next = suggested(defaultsOf, watched.getSelectedItem());
            if (sameNumber(threshold.getText(), shown[0], 0.005)) {
                threshold.setText(ij.IJ.d2s(next[0], 2));
            }
            if (sameNumber(minimum.getText(), shown[1], 0.05)) {
                minimum.setText(ij.IJ.d2s(next[1], 1));
            }
            shown[0] = next[0];
            shown[1] = next[1];
        });
    }

    /** Whether a field shows {@code value} (rounded to its decimals: half a last digit). */
    private static boolean sameNumber(String text, double value, double halfDigit) {
        try {
            return Math.abs(Double.parseDouble(text.trim()) - value) <= halfDigit;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static String[] refinementLabels() {
        Refinement[] all = Refinement.values();
        String[] labels = new String[all.length];
        for (int i = 0; i < all.length; i++) {
            labels[i] = all[i].label();
        }
        return labels;
    }

    /** The artifact model to preselect: the last one, else the shipped one, else the first. */
    private static String artifactChoice(String[] models, String wanted) {
        for (String candidate : new String[] {wanted, DEFAULT_ARTIFACT_MODEL}) {
            for (String m : models) {
                if (m.equals(candidate)) {
                    return m;
                }
            }
        }
        return models[0];
    }

    /** Reads a shown dialog (in the order {@link #dialog} built it) and remembers the values. */
    static FindNucleiSettings fromDialog(GenericDialog gd, boolean hasChannelChoice) {
        return fromDialog(gd, Population.NUCLEI, hasChannelChoice, null);
    }

    /** Reads {@code kind}'s shown dialog and remembers the values. */
    static FindNucleiSettings fromDialog(GenericDialog gd, Population kind,
            boolean hasChannelChoice, String[] models) {
        FindNucleiSettings s = fresh(kind);
        s.channel = hasChannelChoice ? gd.getNextChoiceIndex() + 1 : 1;
        String model = gd.getNextChoice();
        String custom = gd.getNextString().trim();
        s.model = model.equals(CUSTOM_CHOICE) ? custom : model;
        s.threshold = gd.getNextNumber();
        s.minimumUm2 = gd.getNextNumber();
        s.refinement = Refinement.fromLabel(gd.getNextChoice());
        s.population = gd.getNextString().trim();
        s.imageName = gd.getNextString().trim();
        s.probability = gd.getNextBoolean();
        s.labelImage = gd.getNextBoolean();
        s.outlines = gd.getNextBoolean();
        s.backend = Backend.fromLabel(gd.getNextChoice());
        s.onnxRuntimeLibrary = gd.getNextString().trim();
        ij.Prefs.set(ONNX_RUNTIME_PREF, s.onnxRuntimeLibrary);
        s.memoryBudgetMB = gd.getNextNumber();
        if (kind == Population.NUCLEI && models != null) {
            s.excludeArtifacts = gd.getNextBoolean();
            s.artifactModel = gd.getNextChoice();
        }
        if (gd.invalidNumber()) {
            throw new IllegalArgumentException(
                    "threshold, minimum size and memory budget must be numbers");
        }
        s.check();
        ij.Prefs.set(MEMORY_PREF, s.memoryBudgetMB);
        LAST.put(kind, s);
        return s;
    }
}
