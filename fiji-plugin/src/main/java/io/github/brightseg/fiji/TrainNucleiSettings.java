package io.github.brightseg.fiji;

import java.util.Locale;

import ij.Macro;
import ij.gui.GenericDialog;

/**
 * Every field of Train Nuclei DNN: dialog label, macro key (the label's first word, lowercased)
 * and default, in one place:
 *
 * <pre>
 * source=[Current image] brightfield=1 stain=2 name=my-nuclei save=/path/to/Fiji.app/models
 * time=30 architecture=tiny epochs=60 pixel=0 minimum=10 threshold=otsu start=None [replace]
 * source=Folder input=/path/to/images …
 * source=Folder input=/path/to/images separate=[-ch2,-ch1] …
 * </pre>
 *
 * {@code separate=} pairs single-channel files of one folder, as screening systems export them:
 * each file whose name holds the first part (the brightfield) goes with the file named alike
 * with the second part (the stain); the channel numbers are then not used.
 *
 * Macro-only keys for power users and tests: {@code steps=} (per epoch, 40), {@code batch=} (8),
 * {@code patch=} (128), {@code seed=} (1), {@code threads=} (0: all cores). {@code pixel=0} takes
 * the pixel size from the images' calibration. {@code time=0} trains without a time limit.
 */
final class TrainNucleiSettings {
    static final String SOURCE = "Source";
    static final String INPUT = "Input folder (for Folder)";
    static final String SEPARATE = "Separate channel files: name parts (brightfield,stain)";
    static final String BRIGHTFIELD = "Brightfield channel";
    static final String STAIN = "Stain channel (Hoechst/DAPI)";
    static final String NAME = "Name of the new model";
    static final String SAVE = "Save in (a models folder)";
    static final String TIME = "Time budget [min] (0: none)";
    static final String ARCHITECTURE = "Architecture";
    static final String EPOCHS = "Epochs (at most)";
    static final String PIXEL = "Pixel size [µm] (0: from the images)";
    static final String MINIMUM = "Minimum nucleus size [µm²]";
    static final String THRESHOLD = "Threshold method (stain)";
    static final String START = "Start from model (fine-tune)";
    static final String REPLACE = "Replace a model of the same name";

    static final String CURRENT_IMAGE = "Current image";
    static final String OPEN_IMAGES = "All open images";
    static final String FOLDER = "Folder";
    static final String[] SOURCES = {CURRENT_IMAGE, OPEN_IMAGES, FOLDER};
    static final String[] ARCHITECTURES = {"tiny", "fast", "standard"};
    static final String[] THRESHOLD_METHODS = {"otsu", "li", "triangle"};
    static final String NO_START = "None";

    String source = CURRENT_IMAGE;
    String inputFolder = "";
    String separateFiles = "";
    int brightfield = 1;
    int stain = 2;
    String name = "";
    String saveIn = "";
    double timeMinutes = 30;
    String architecture = "tiny";
    int epochs = 60;
    double pixelSizeUm;
    double minimumUm2 = 10;
    String thresholdMethod = "otsu";
    String startFrom = NO_START;
    boolean replace;
    int steps = 40;
    int batch = 8;
    int patch = 128;
    int seed = 1;
    int threads;

    /** Last settings used in the dialog, for its next opening. */
    private static TrainNucleiSettings last = new TrainNucleiSettings();

    static String key(String label) {
        return FindNucleiSettings.key(label);
    }

    /** Whether training fine-tunes a model ("Start from model" names one) or starts fresh. */
    boolean startsFromModel() {
        return !startFrom.isEmpty() && !startFrom.equals(NO_START);
    }

    /** Settings from macro options: missing keys take the defaults; name is required. */
    static TrainNucleiSettings fromMacro(String options, String defaultSaveIn) {
        TrainNucleiSettings s = commonFromMacro(options, defaultSaveIn, NO_START);
        s.source = choice(options, SOURCE, SOURCES, CURRENT_IMAGE);
        s.inputFolder = Macro.getValue(options, key(INPUT), "").trim();
        s.separateFiles = Macro.getValue(options, key(SEPARATE), "").trim();
        s.brightfield = (int) number(options, BRIGHTFIELD, 1);
        s.stain = (int) number(options, STAIN, 2);
        s.thresholdMethod = choice(options, THRESHOLD, THRESHOLD_METHODS, "otsu");
        s.check();
        return s;
    }

    /**
     * The keys every training command shares (the new model, the schedule, where to start),
     * from macro options; not yet checked ({@link #checkCommon}).
     */
    static TrainNucleiSettings commonFromMacro(String options, String defaultSaveIn,
            String defaultStart) {
        TrainNucleiSettings s = new TrainNucleiSettings();
        s.name = Macro.getValue(options, key(NAME), "").trim();
        s.saveIn = Macro.getValue(options, key(SAVE), defaultSaveIn).trim();
        s.timeMinutes = number(options, TIME, 30);
        s.architecture = choice(options, ARCHITECTURE, ARCHITECTURES, "tiny");
        s.epochs = (int) number(options, EPOCHS, 60);
        s.pixelSizeUm = number(options, PIXEL, 0);
        s.minimumUm2 = number(options, MINIMUM, 10);
        s.startFrom = Macro.getValue(options, key(START), defaultStart).trim();
        s.replace = (" " + options + " ").contains(" " + key(REPLACE) + " ");
        s.steps = (int) number(options, "steps", 40);
        s.batch = (int) number(options, "batch", 8);
        s.patch = (int) number(options, "patch", 128);
        s.seed = (int) number(options, "seed", 1);
        s.threads = (int) number(options, "threads", 0);
        return s;
    }

    static double number(String options, String label, double fallback) {
        String key = label.contains(" ") ? key(label) : label;
        String value = Macro.getValue(options, key, null);
        if (value == null) {
            return fallback;
        }
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "=" + value + " is not a number");
        }
    }

    static String choice(String options, String label, String[] choices, String fallback) {
        String value = Macro.getValue(options, key(label), fallback).trim();
        for (String c : choices) {
            if (c.equalsIgnoreCase(value)) {
                return c;
            }
        }
        throw new IllegalArgumentException(key(label) + "=" + value + " is not one of: "
                + String.join(", ", choices));
    }

    /**
     * The name parts of brightfield and stain files ({@code separate=-ch2,-ch1}), or null when
     * every file holds both channels.
     */
    String[] separateFileParts() {
        if (separateFiles.isEmpty()) {
            return null;
        }
        String[] parts = separateFiles.split(",", -1);
        if (parts.length != 2 || parts[0].trim().isEmpty() || parts[1].trim().isEmpty()
                || parts[0].trim().equals(parts[1].trim())) {
            throw new IllegalArgumentException("separate=" + separateFiles + " should be two "
                    + "different parts of the file names, brightfield first: e.g. "
                    + "separate=[-ch2,-ch1] pairs a-ch2.tif (brightfield) with a-ch1.tif (stain)");
        }
        return new String[] {parts[0].trim(), parts[1].trim()};
    }

    /** Range checks, before any work. */
    void check() {
        checkCommon();
        if (source.equals(FOLDER) && inputFolder.isEmpty()) {
            throw new IllegalArgumentException("source=Folder needs input=<folder of images>");
        }
        if (separateFileParts() != null && !source.equals(FOLDER)) {
            throw new IllegalArgumentException("separate channel files are read from a folder: "
                    + "give source=Folder input=<folder>");
        }
        if (brightfield < 1 || stain < 1) {
            throw new IllegalArgumentException("channels count from 1: brightfield=" + brightfield
                    + " stain=" + stain);
        }
        if (brightfield == stain) {
            throw new IllegalArgumentException("the brightfield and the stain are both channel "
                    + stain + ": the stain must be a channel of its own");
        }
    }

    /** Range checks of the keys every training command shares. */
    void checkCommon() {
        if (name.isEmpty()) {
            throw new IllegalArgumentException("no model name: give name=<new model name>");
        }
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("model name \"" + name + "\" is invalid: use "
                    + "letters, digits, '.', '-' and '_' (it becomes a folder name)");
        }
        if (saveIn.isEmpty()) {
            throw new IllegalArgumentException("no folder to save the model in: give save=<folder>");
        }
        if (!(timeMinutes >= 0) || Double.isInfinite(timeMinutes)) {
            throw new IllegalArgumentException("time budget " + timeMinutes
                    + " min is invalid: give 0 (no limit) or minutes");
        }
        if (epochs < 1 || steps < 1 || batch < 1 || patch < 16 || threads < 0) {
            throw new IllegalArgumentException("epochs, steps and batch must be at least 1, patch "
                    + "at least 16, threads 0 or more");
        }
        if (!(pixelSizeUm >= 0) || Double.isInfinite(pixelSizeUm)) {
            throw new IllegalArgumentException("pixel size " + pixelSizeUm
                    + " µm is invalid: give 0 (from the images) or a size in µm");
        }
        if (!(minimumUm2 >= 0) || Double.isInfinite(minimumUm2)) {
            throw new IllegalArgumentException("minimum size " + minimumUm2 + " µm² is invalid");
        }
    }

    /** The dialog, with the last used values; {@code models} lists models to fine-tune from. */
    static GenericDialog dialog(String defaultSaveIn, String[] models, int channels) {
        TrainNucleiSettings l = last;
        GenericDialog gd = new GenericDialog("Train Nuclei DNN");
        gd.addMessage("Trains a U-Net that finds nuclei in brightfield, with targets derived "
                + "from a nuclear stain\nimaged in the same fields (no labels to draw).");
        gd.addChoice(SOURCE, SOURCES, l.source);
        gd.addDirectoryField(INPUT, l.inputFolder, 30);
        gd.addStringField(SEPARATE, l.separateFiles, 12);
        gd.addNumericField(BRIGHTFIELD, l.brightfield, 0);
        gd.addNumericField(STAIN, Math.min(l.stain, Math.max(2, channels)), 0);
        gd.addStringField(NAME, l.name.isEmpty() ? "my-nuclei-brightfield" : l.name, 24);
        gd.addDirectoryField(SAVE, l.saveIn.isEmpty() ? defaultSaveIn : l.saveIn, 30);
        gd.addNumericField(TIME, l.timeMinutes, 0);
        gd.addChoice(ARCHITECTURE, ARCHITECTURES, l.architecture);
        gd.addNumericField(EPOCHS, l.epochs, 0);
        gd.addNumericField(PIXEL, l.pixelSizeUm, 3);
        gd.addNumericField(MINIMUM, l.minimumUm2, 1);
        gd.addChoice(THRESHOLD, THRESHOLD_METHODS, l.thresholdMethod);
        String[] starts = new String[models.length + 1];
        starts[0] = NO_START;
        System.arraycopy(models, 0, starts, 1, models.length);
        gd.addChoice(START, starts, contains(starts, l.startFrom) ? l.startFrom : NO_START);
        gd.addCheckbox(REPLACE, l.replace);
        gd.addHelp("https://github.com/brightseg/brightseg#train-in-fiji");
        return gd;
    }

    static boolean contains(String[] values, String v) {
        for (String s : values) {
            if (s.equals(v)) {
                return true;
            }
        }
        return false;
    }

    /** Reads a shown dialog in the order {@link #dialog} built it, and remembers the values. */
    static TrainNucleiSettings fromDialog(GenericDialog gd) {
        TrainNucleiSettings s = new TrainNucleiSettings();
        s.source = gd.getNextChoice();
        s.inputFolder = gd.getNextString().trim();
        s.separateFiles = gd.getNextString().trim();
        s.brightfield = (int) gd.getNextNumber();
        s.stain = (int) gd.getNextNumber();
        s.name = gd.getNextString().trim();
        s.saveIn = gd.getNextString().trim();
        s.timeMinutes = gd.getNextNumber();
        s.architecture = gd.getNextChoice().toLowerCase(Locale.ROOT);
        s.epochs = (int) gd.getNextNumber();
        s.pixelSizeUm = gd.getNextNumber();
        s.minimumUm2 = gd.getNextNumber();
        s.thresholdMethod = gd.getNextChoice();
        s.startFrom = gd.getNextChoice();
        s.replace = gd.getNextBoolean();
        if (gd.invalidNumber()) {
            throw new IllegalArgumentException("channels, time, epochs, pixel size and minimum "
                    + "size must be numbers");
        }
        s.check();
        last = s;
        return s;
    }
}
