package io.github.brightseg.fiji;

import java.awt.GraphicsEnvironment;
import java.awt.HeadlessException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import ij.plugin.frame.RoiManager;

import io.github.brightseg.Models;
import io.github.brightseg.TrainingField;
import io.github.brightseg.TrainingOptions;

/**
 * {@code Plugins › brightseg › Train Nuclei DNN from ROIs}: fine-tunes a nuclei model on nuclei
 * outlined by hand on the current image: the ROIs of the ROI Manager (or, when it is empty, the
 * image's overlay) are nuclei, ROIs named "background…" mark sure background, and everything else
 * is unlabelled (the loss does not take it for background, so ten outlines on a field of a
 * hundred nuclei teach nuclei, not "the rest is background"). Starts from
 * {@code nuclei-brightfield} by default. Same progress window, Stop button, model folder and
 * summary as {@link TrainNucleiDnn}.
 *
 * <pre>
 * run("Train Nuclei DNN from ROIs", "brightfield=1 background=background name=my-nuclei
 *     save=/path/to/Fiji.app/models start=nuclei-brightfield time=10 epochs=60 pixel=0 minimum=10");
 * </pre>
 *
 * Keys: {@code brightfield} (channel, 1), {@code background} (name prefix of background ROIs,
 * "background"; {@code group=N} also marks ROIs of group N), {@code complete} (every nucleus of
 * the labelled region is outlined: unlabelled pixels are background), and the keys of Train
 * Nuclei DNN for the new model and the schedule ({@code name save time architecture epochs pixel
 * minimum start replace}, macro-only {@code steps batch patch seed threads}, and
 * {@code unlabelled=} the loss weight of unlabelled pixels, 0.1).
 */
public class TrainNucleiFromRois implements PlugIn {
    private static final String TITLE = "Train Nuclei DNN from ROIs";
    static final String BRIGHTFIELD = TrainNucleiSettings.BRIGHTFIELD;
    static final String BACKGROUND = "Background ROIs: names start with";
    static final String COMPLETE = "Complete labels: every nucleus in the ROIs' region is outlined";
    static final String DEFAULT_START = "nuclei-brightfield";
    /** A fine-tune on a few outlines: ten minutes, as long as the one-field fine-tune takes. */
    static final double DEFAULT_MINUTES = 10;

    /** What this command reads beside the shared training settings. */
    static final class Settings {
        TrainNucleiSettings common;
        int brightfield = 1;
        String backgroundPrefix = "background";
        int backgroundGroup;
        boolean complete;
        double unlabelledWeight = 0.1;

        static Settings fromMacro(String options, String defaultSaveIn) {
            Settings s = new Settings();
            s.common = TrainNucleiSettings.commonFromMacro(options, defaultSaveIn, DEFAULT_START);
            if (Macro.getValue(options, TrainNucleiSettings.key(TrainNucleiSettings.TIME), null)
                    == null) {
                s.common.timeMinutes = DEFAULT_MINUTES;
            }
            s.brightfield = (int) TrainNucleiSettings.number(options, BRIGHTFIELD, 1);
            s.backgroundPrefix = Macro.getValue(options, TrainNucleiSettings.key(BACKGROUND),
                    "background").trim();
            s.backgroundGroup = (int) TrainNucleiSettings.number(options, "group", 0);
            s.complete = (" " + options + " ").contains(" "
                    + TrainNucleiSettings.key(COMPLETE) + " ");
            s.unlabelledWeight = TrainNucleiSettings.number(options, "unlabelled", 0.1);
            s.check();
            return s;
        }

        void check() {
            common.checkCommon();
            if (brightfield < 1) {
                throw new IllegalArgumentException("brightfield=" + brightfield + " is invalid: "
                        + "channels count from 1");
            }
            if (backgroundGroup < 0) {
                throw new IllegalArgumentException("group=" + backgroundGroup + " is invalid: "
                        + "give a ROI group (1 or more), or 0 for none");
            }
            if (!(unlabelledWeight > 0 && unlabelledWeight <= 1)) {
                throw new IllegalArgumentException("unlabelled=" + unlabelledWeight + " is "
                        + "invalid: the weight of unlabelled pixels is in (0, 1]");
            }
        }
    }

    /** Last dialog values, for its next opening. */
    private static Settings last;

    @Override
    public void run(String arg) {
        Brightseg.clearError();
        FindNucleiDnn.NativeLogToImageJ.install();
        String options = Brightseg.macroOptions(arg);
        boolean interactive = Brightseg.interactive(options);
        try {
            ImagePlus imp = WindowManager.getCurrentImage();
            if (imp == null) {
                throw new IllegalArgumentException("no image is open: open the image, outline "
                        + "nuclei with the oval or freehand tool and add them to the ROI Manager");
            }
            Roi[] rois = rois(imp); // before the dialog: without ROIs there is nothing to set
            Settings s = settings(options, imp);
            if (s == null) {
                return; // cancelled
            }
            List<TrainingField> fields = new ArrayList<>();
            double pixelSize = collectFields(s, imp, rois, fields);
            TrainingOptions training = TrainNucleiDnn.commonOptions(s.common, pixelSize)
                    .withIncompleteLabels(!s.complete)
                    .withUnlabelledWeight(s.unlabelledWeight)
                    .withTrainingData(List.of("trained in Fiji (" + TITLE + "): " + rois.length
                            + " ROIs on \"" + imp.getTitle() + "\", channel " + s.brightfield
                            + (s.complete ? " (complete labels)" : " (incomplete labels, "
                            + "unlabelled pixels weighted " + s.unlabelledWeight + ")")));
            if (interactive) {
                Thread worker = new Thread(() -> TrainNucleiDnn.train(TITLE, fields, training,
                        s.common, pixelSize, true), "brightseg training " + s.common.name);
                worker.setDaemon(true);
                worker.start();
            } else {
                TrainNucleiDnn.train(TITLE, fields, training, s.common, pixelSize, false);
            }
        } catch (Exception | LinkageError e) {
            FindNucleiDnn.fail(TITLE, TrainNucleiDnn.describe(e), interactive);
        } catch (OutOfMemoryError e) {
            FindNucleiDnn.fail(TITLE, FindNucleiDnn.OUT_OF_MEMORY, interactive);
        }
    }

    /** The ROIs of the ROI Manager (a batch macro's own one included), else the overlay's. */
    static Roi[] rois(ImagePlus imp) {
        RoiManager manager = Interpreter.isBatchMode() ? Interpreter.getBatchModeRoiManager()
                : null;
        if (manager == null || manager.getCount() == 0) {
            manager = RoiManager.getInstance();
        }
        if (manager != null && manager.getCount() > 0) {
            return manager.getRoisAsArray();
        }
        Overlay overlay = imp.getOverlay();
        if (overlay != null && overlay.size() > 0) {
            return overlay.toArray();
        }
        throw new IllegalArgumentException("no ROIs: outline nuclei on \"" + imp.getTitle()
                + "\" with the oval or freehand tool and add each to the ROI Manager (press t)");
    }

    private static Settings settings(String options, ImagePlus imp) {
        String saveIn = TrainNucleiDnn.defaultSaveFolder();
        if (options != null) {
            return Settings.fromMacro(options, saveIn);
        }
        if (GraphicsEnvironment.isHeadless()) {
            throw new IllegalArgumentException("no options given and no display for a dialog: "
                    + "give options, e.g. \"brightfield=1 name=my-model\"");
        }
        if (IJ.isMacro() && Interpreter.isBatchMode()) {
            throw new IllegalArgumentException("no options given in a batch-mode macro: give "
                    + "them, e.g. run(\"" + TITLE + "\", \"brightfield=1 name=my-model\")");
        }
        List<String> models = new ArrayList<>();
        for (Path p : Models.discover(FindNucleiDnn.searchPath())) {
            models.add(String.valueOf(p.getFileName()));
        }
        Settings l = last != null ? last : new Settings();
        TrainNucleiSettings c = l.common != null ? l.common : new TrainNucleiSettings();
        GenericDialog gd;
        try {
            gd = new GenericDialog(TITLE);
        } catch (HeadlessException e) {
            throw new IllegalArgumentException("no display for the dialog: give macro options");
        }
        gd.addMessage("Fine-tunes a model on nuclei outlined on \"" + imp.getTitle() + "\": ROIs of "
                + "the ROI Manager (or the overlay)\nare nuclei, ROIs named as below mark sure "
                + "background, the rest is unlabelled.");
        gd.addNumericField(BRIGHTFIELD, Math.min(l.brightfield, ImagePlanes.channels(imp)), 0);
        gd.addStringField(BACKGROUND, l.backgroundPrefix, 12);
        gd.addCheckbox(COMPLETE, l.complete);
        gd.addStringField(TrainNucleiSettings.NAME, c.name.isEmpty() ? "my-nuclei-from-rois"
                : c.name, 24);
        gd.addDirectoryField(TrainNucleiSettings.SAVE, c.saveIn.isEmpty() ? saveIn : c.saveIn, 30);
        gd.addNumericField(TrainNucleiSettings.TIME, last == null ? DEFAULT_MINUTES
                : c.timeMinutes, 0);
        gd.addChoice(TrainNucleiSettings.ARCHITECTURE, TrainNucleiSettings.ARCHITECTURES,
                c.architecture);
        gd.addNumericField(TrainNucleiSettings.EPOCHS, c.epochs, 0);
        gd.addNumericField(TrainNucleiSettings.PIXEL, c.pixelSizeUm, 3);
        gd.addNumericField(TrainNucleiSettings.MINIMUM, c.minimumUm2, 1);
        String[] starts = new String[models.size() + 1];
        starts[0] = TrainNucleiSettings.NO_START;
        for (int i = 0; i < models.size(); i++) {
            starts[i + 1] = models.get(i);
        }
        String start = last != null ? c.startFrom : DEFAULT_START;
        gd.addChoice(TrainNucleiSettings.START, starts, TrainNucleiSettings.contains(starts, start)
                ? start : starts[starts.length > 1 ? 1 : 0]);
        gd.addCheckbox(TrainNucleiSettings.REPLACE, c.replace);
        gd.addHelp("https://github.com/brightseg/brightseg#train-from-rois-in-fiji");
        gd.showDialog();
        if (gd.wasCanceled()) {
            return null;
        }
        Settings s = new Settings();
        s.common = new TrainNucleiSettings();
        s.brightfield = (int) gd.getNextNumber();
        s.backgroundPrefix = gd.getNextString().trim();
        s.complete = gd.getNextBoolean();
        s.common.name = gd.getNextString().trim();
        s.common.saveIn = gd.getNextString().trim();
        s.common.timeMinutes = gd.getNextNumber();
        s.common.architecture = gd.getNextChoice().toLowerCase(Locale.ROOT);
        s.common.epochs = (int) gd.getNextNumber();
        s.common.pixelSizeUm = gd.getNextNumber();
        s.common.minimumUm2 = gd.getNextNumber();
        s.common.startFrom = gd.getNextChoice();
        s.common.replace = gd.getNextBoolean();
        if (gd.invalidNumber()) {
            throw new IllegalArgumentException("channel, time, epochs, pixel size and minimum "
                    + "size must be numbers");
        }
        s.check();
        last = s;
        return s;
    }

    /** Fills {@code fields} with each labelled plane, cropped; returns the pixel size in µm. */
    private static double collectFields(Settings s, ImagePlus imp, Roi[] rois,
            List<TrainingField> fields) {
        int channels = ImagePlanes.channels(imp);
        if (s.brightfield > channels) {
            throw new IllegalArgumentException("\"" + imp.getTitle() + "\" has " + channels
                    + " channel" + (channels == 1 ? "" : "s") + ", not channel " + s.brightfield);
        }
        double pixel = s.common.pixelSizeUm;
        if (pixel == 0) {
            double[] size = ImagePlanes.pixelSizeUm(imp);
            if (size == null) {
                throw new IllegalArgumentException("\"" + imp.getTitle() + "\" is not calibrated: "
                        + "set its pixel size (Image › Properties…) or give the pixel size in µm");
            }
            pixel = size[0];
        }
        List<RoiLabels.Plane> planes = RoiLabels.planes(rois, imp.getWidth(), imp.getHeight(),
                imp.getNChannels(), imp.getNSlices(), imp.getNFrames(), imp.getZ(), imp.getT(),
                s.backgroundPrefix, s.backgroundGroup, 2 * s.common.patch);
        int nuclei = 0;
        for (RoiLabels.Plane plane : planes) {
            float[] whole = TrainNucleiDnn.floatPlane(imp, s.brightfield, plane.z, plane.t);
            float[] crop = new float[plane.labels.length];
            for (int y = 0; y < plane.crop.height; y++) {
                System.arraycopy(whole, (plane.crop.y + y) * imp.getWidth() + plane.crop.x, crop,
                        y * plane.crop.width, plane.crop.width);
            }
            String name = String.format(Locale.ROOT, "%s%s%s [%d,%d,%d,%d]", imp.getTitle(),
                    imp.getNSlices() > 1 ? " z" + plane.z : "",
                    imp.getNFrames() > 1 ? " t" + plane.t : "", plane.crop.x, plane.crop.y,
                    plane.crop.width, plane.crop.height);
            fields.add(TrainingField.withLabels(name, plane.crop.width, plane.crop.height, crop,
                    plane.labels));
            nuclei += plane.nuclei;
            IJ.log(String.format(Locale.ROOT, "%s: %s: %d nuclei, %d background pixels",
                    TITLE, name, plane.nuclei, plane.backgroundPixels));
        }
        IJ.log(String.format(Locale.ROOT, "%s: %d outlined nuclei on %d plane%s; %s", TITLE,
                nuclei, planes.size(), planes.size() == 1 ? "" : "s", s.complete
                        ? "every other pixel of the region is background"
                        : "unlabelled pixels are not taken for background"));
        return pixel;
    }
}
