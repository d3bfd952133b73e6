package io.github.brightseg.fiji;

import java.awt.Button;
import java.awt.FlowLayout;
import java.awt.Frame;
import java.awt.GraphicsEnvironment;
import java.awt.HeadlessException;
import java.awt.Label;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import ij.process.ColorProcessor;
import ij.process.ImageProcessor;

import io.github.brightseg.Models;
import io.github.brightseg.NucleiTrainer;
import io.github.brightseg.TrainingField;
import io.github.brightseg.TrainingListener;
import io.github.brightseg.TrainingOptions;
import io.github.brightseg.TrainingResult;

/**
 * {@code Plugins › brightseg › Train Nuclei DNN}: trains a brightfield nuclei model from images
 * that also have a nuclear stain channel (targets come from the stain; nobody draws labels).
 * Every plane (each z and time point) of the chosen images is one training field. The model
 * folder goes where Find Nuclei DNN finds it, by name.
 *
 * <p>From the menu it trains in the background with a small window showing the epoch, the loss
 * and the best validation F1, and a button that stops training and keeps the best epoch (so does
 * Esc). From a macro ({@code run("Train Nuclei DNN", "source=[Current image] brightfield=1
 * stain=2 name=my-model …")}, or {@code call("ij.IJ.runPlugIn",
 * "io.github.brightseg.fiji.TrainNucleiDnn", "…")} in plain headless ImageJ) it trains before
 * returning, logging each epoch, so the next macro line can use the model. Keys are listed in
 * {@link TrainNucleiSettings}; results reach macros through {@link Brightseg#summary} ("Model",
 * "Folder", "Stop", "Epochs", "Best Epoch", "Validation F1", "Threshold", "Split Depth [px]",
 * "Engine").
 */
public class TrainNucleiDnn implements PlugIn {
    private static final String TITLE = "Train Nuclei DNN";
    /** One training at a time: two would share (and halve) the cores. */
    private static final AtomicBoolean RUNNING = new AtomicBoolean();

    @Override
    public void run(String arg) {
        Brightseg.clearError();
        FindNucleiDnn.NativeLogToImageJ.install();
        String options = Brightseg.macroOptions(arg);
        boolean interactive = Brightseg.interactive(options);
        try {
            TrainNucleiSettings s = settings(options);
            if (s == null) {
                return; // cancelled
            }
            List<TrainingField> fields = new ArrayList<>();
            double pixelSize = collectFields(s, fields);
            TrainingOptions training = options(s, pixelSize);
            if (interactive) {
                Thread worker = new Thread(
                        () -> train(TITLE, fields, training, s, pixelSize, true),
                        "brightseg training " + s.name);
                worker.setDaemon(true);
                worker.start();
            } else {
                train(TITLE, fields, training, s, pixelSize, false);
            }
        } catch (Exception | LinkageError e) {
            FindNucleiDnn.fail(TITLE, describe(e), interactive);
        } catch (OutOfMemoryError e) {
            FindNucleiDnn.fail(TITLE, FindNucleiDnn.OUT_OF_MEMORY, interactive);
        }
    }

    static String describe(Throwable e) {
        String message = e.getMessage();
        return message == null || message.isEmpty() ? e.getClass().getSimpleName() : message;
    }

    /** The folder new models go in: the first models folder Find Nuclei DNN searches. */
    static String defaultSaveFolder() {
        List<Path> path = FindNucleiDnn.searchPath();
        for (Path p : path) {
            if (Files.isDirectory(p) && Files.isWritable(p)) {
                return p.toString();
            }
        }
        return path.isEmpty() ? "" : path.get(0).toString();
    }

    private static TrainNucleiSettings settings(String options) {
        if (options != null) {
            return TrainNucleiSettings.fromMacro(options, defaultSaveFolder());
        }
        if (GraphicsEnvironment.isHeadless()) {
            throw new IllegalArgumentException("no options given and no display for a dialog: "
                    + "give options, e.g. \"brightfield=1 stain=2 name=my-model\"");
        }
        if (IJ.isMacro() && Interpreter.isBatchMode()) {
            throw new IllegalArgumentException("no options given in a batch-mode macro: give "
                    + "them, e.g. run(\"Train Nuclei DNN\", \"brightfield=1 stain=2 name=my-model\")");
        }
        ImagePlus current = WindowManager.getCurrentImage();
        List<String> models = new ArrayList<>();
        for (Path p : Models.discover(FindNucleiDnn.searchPath())) {
            models.add(String.valueOf(p.getFileName()));
        }
        GenericDialog gd;
        try {
            gd = TrainNucleiSettings.dialog(defaultSaveFolder(), models.toArray(new String[0]),
                    current == null ? 2 : ImagePlanes.channels(current));
        } catch (HeadlessException e) {
            throw new IllegalArgumentException("no display for the dialog: give macro options");
        }
        gd.showDialog();
        if (gd.wasCanceled()) {
            return null;
        }
        return TrainNucleiSettings.fromDialog(gd);
    }

    /** An image and the channels of brightfield and stain, which may be a second image. */
    private static final class Source {
        final ImagePlus brightfield;
        final int brightfieldChannel;
        final ImagePlus stain;
        final int stainChannel;

        Source(ImagePlus brightfield, int brightfieldChannel, ImagePlus stain, int stainChannel) {
            this.brightfield = brightfield;
            this.brightfieldChannel = brightfieldChannel;
            this.stain = stain;
            this.stainChannel = stainChannel;
        }
    }

    /** The image files of a folder (.tif, .tiff, .png, .zip), sorted by name. */
    private static File[] imageFiles(File dir) {
        File[] files = dir.listFiles();
        if (files == null) {
            throw new IllegalArgumentException("cannot read the folder " + dir);
        }
        Arrays.sort(files);
        List<File> images = new ArrayList<>();
        for (File f : files) {
            String n = f.getName().toLowerCase(Locale.ROOT);
            if (f.isFile() && !n.startsWith(".") && (n.endsWith(".tif") || n.endsWith(".tiff")
                    || n.endsWith(".png") || n.endsWith(".zip"))) {
                images.add(f);
            }
        }
        if (images.isEmpty()) {
            throw new IllegalArgumentException("no images (.tif, .tiff, .png) in " + dir);
        }
        return images.toArray(new File[0]);
    }

    /**
     * Brightfield and stain files of one folder, paired by name: every file whose name holds
     * {@code brightfieldPart} goes with the file named alike with {@code stainPart} in its place
     * (the first occurrence), e.g. a-ch2.tif with a-ch1.tif.
     */
    static List<File[]> pairChannelFiles(File[] files, String brightfieldPart, String stainPart) {
        Map<String, File> byName = new LinkedHashMap<>();
        for (File f : files) {
            byName.put(f.getName(), f);
        }
        List<File[]> pairs = new ArrayList<>();
        for (File f : files) {
            String name = f.getName();
            int at = name.indexOf(brightfieldPart);
            if (at < 0) {
                continue;
            }
            String partner = name.substring(0, at) + stainPart
                    + name.substring(at + brightfieldPart.length());
            File stain = byName.get(partner);
            if (stain == null) {
                throw new IllegalArgumentException("no stain file " + partner + " for the "
                        + "brightfield file " + name + " in " + f.getParent());
            }
            pairs.add(new File[] {f, stain});
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("no file name in the folder holds \""
                    + brightfieldPart + "\" (the brightfield part of separate=)");
        }
        return pairs;
    }

    private static ImagePlus open(File f) {
        ImagePlus imp = IJ.openImage(f.getPath());
        if (imp == null) {
            throw new IllegalArgumentException("cannot open " + f + " as an image");
        }
        return imp;
    }

    /** The images the settings name: the current one, every open one, or a folder's files. */
    private static List<Source> sources(TrainNucleiSettings s) {
        List<Source> sources = new ArrayList<>();
        if (s.source.equals(TrainNucleiSettings.FOLDER)) {
            File[] files = imageFiles(new File(s.inputFolder));
            String[] parts = s.separateFileParts();
            if (parts != null) {
                for (File[] pair : pairChannelFiles(files, parts[0], parts[1])) {
                    ImagePlus brightfield = open(pair[0]);
                    ImagePlus stain = open(pair[1]);
                    checkSeparateFiles(brightfield, stain);
                    sources.add(new Source(brightfield, 1, stain, 1));
                }
                return sources;
            }
            for (File f : files) {
                ImagePlus imp = open(f);
                sources.add(new Source(imp, s.brightfield, imp, s.stain));
            }
            return sources;
        }
        List<ImagePlus> images = new ArrayList<>();
        if (s.source.equals(TrainNucleiSettings.OPEN_IMAGES)) {
            int[] ids = WindowManager.getIDList();
            if (ids != null) {
                for (int id : ids) {
                    images.add(WindowManager.getImage(id));
                }
            }
            if (images.isEmpty()) {
                throw new IllegalArgumentException("no image is open");
            }
        } else {
            ImagePlus imp = WindowManager.getCurrentImage();
            if (imp == null) {
                throw new IllegalArgumentException("no image is open: open images that have a "
                        + "brightfield and a nuclear stain channel, or choose source=Folder");
            }
            images.add(imp);
        }
        for (ImagePlus imp : images) {
            sources.add(new Source(imp, s.brightfield, imp, s.stain));
        }
        return sources;
    }

    /** A brightfield file and its stain file: one channel each, the same size and planes. */
    private static void checkSeparateFiles(ImagePlus brightfield, ImagePlus stain) {
        for (ImagePlus imp : new ImagePlus[] {brightfield, stain}) {
            if (ImagePlanes.channels(imp) != 1) {
                throw new IllegalArgumentException("\"" + imp.getTitle() + "\" has "
                        + ImagePlanes.channels(imp) + " channels: separate channel files hold "
                        + "one channel each");
            }
        }
        if (brightfield.getWidth() != stain.getWidth()
                || brightfield.getHeight() != stain.getHeight()
                || brightfield.getNSlices() != stain.getNSlices()
                || brightfield.getNFrames() != stain.getNFrames()) {
            throw new IllegalArgumentException("\"" + brightfield.getTitle() + "\" and its stain \""
                    + stain.getTitle() + "\" differ in size or planes: "
                    + brightfield.getWidth() + "×" + brightfield.getHeight() + "×"
                    + brightfield.getStackSize() + " against " + stain.getWidth() + "×"
                    + stain.getHeight() + "×" + stain.getStackSize());
        }
    }

    /** Fills {@code fields} with every plane of the images; returns the pixel size in µm. */
    private static double collectFields(TrainNucleiSettings s, List<TrainingField> fields) {
        double pixel = s.pixelSizeUm;
        for (Source source : sources(s)) {
            ImagePlus imp = source.brightfield;
            int channels = ImagePlanes.channels(imp);
            int needed = Math.max(source.brightfieldChannel, source.stainChannel);
            if (source.stain == imp && channels < needed) {
                throw new IllegalArgumentException("\"" + imp.getTitle() + "\" has " + channels
                        + " channel" + (channels == 1 ? "" : "s") + ": it needs the brightfield "
                        + "(channel " + s.brightfield + ") and the stain (channel " + s.stain
                        + ") of the same field; a stack of single planes may need Image › "
                        + "Hyperstacks › Stack to Hyperstack first, and one file per channel "
                        + "separate=[brightfield part,stain part]");
            }
            if (s.pixelSizeUm == 0) {
                double[] size = ImagePlanes.pixelSizeUm(imp);
                if (size == null) {
                    throw new IllegalArgumentException("\"" + imp.getTitle() + "\" is not "
                            + "calibrated: set its pixel size (Image › Properties…) or give the "
                            + "pixel size in µm");
                }
                if (pixel == 0) {
                    pixel = size[0];
                } else if (Math.abs(size[0] - pixel) > 0.01 * pixel) {
                    throw new IllegalArgumentException("\"" + imp.getTitle() + "\" has "
                            + size[0] + " µm pixels, the first image " + pixel + " µm: train on "
                            + "images of one pixel size");
                }
            }
            for (int t = 1; t <= imp.getNFrames(); t++) {
                for (int z = 1; z <= imp.getNSlices(); z++) {
                    String name = imp.getTitle() + (imp.getNSlices() > 1 ? " z" + z : "")
                            + (imp.getNFrames() > 1 ? " t" + t : "");
                    fields.add(new TrainingField(name, imp.getWidth(), imp.getHeight(),
                            floatPlane(imp, source.brightfieldChannel, z, t),
                            floatPlane(source.stain, source.stainChannel, z, t)));
                }
            }
        }
        return pixel;
    }

    /** Channel {@code c} of plane (z, t) as 32-bit values (a copy). */
    static float[] floatPlane(ImagePlus imp, int c, int z, int t) {
        if (imp.getType() == ImagePlus.COLOR_RGB) {
            ColorProcessor cp = (ColorProcessor) imp.getStack()
                    .getProcessor(imp.getStackIndex(1, z, t));
            byte[] channel = cp.getChannel(c);
            float[] out = new float[channel.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = channel[i] & 0xff;
            }
            return out;
        }
        ImageProcessor ip = imp.getStack().getProcessor(imp.getStackIndex(c, z, t));
        Object pixels = ip.convertToFloatProcessor().getPixels();
        float[] values = (float[]) pixels;
        return ip.getPixels() == pixels ? values.clone() : values;
    }

    private static TrainingOptions options(TrainNucleiSettings s, double pixelSize)
            throws IOException {
        return commonOptions(s, pixelSize)
                .withThresholdMethod(s.thresholdMethod)
                .withTrainingData(List.of("trained in Fiji (Train Nuclei DNN): " + (s.separateFiles
                        .isEmpty() ? "brightfield channel " + s.brightfield + ", targets from "
                        + "stain channel " + s.stain : "brightfield and stain in separate files ("
                        + s.separateFiles + ")") + " (" + s.thresholdMethod + ")"));
    }

    /** The options every training command shares: the new model, the schedule, the start. */
    static TrainingOptions commonOptions(TrainNucleiSettings s, double pixelSize)
            throws IOException {
        TrainingOptions o = TrainingOptions.named(s.name, Paths.get(s.saveIn))
                .withArchitecture(s.architecture)
                .withEpochs(s.epochs)
                .withStepsPerEpoch(s.steps)
                .withBatch(s.batch, s.patch)
                .withSeed(s.seed)
                .withThreads(s.threads)
                .withTimeBudgetSeconds(s.timeMinutes * 60)
                .withPixelSizeUm(pixelSize)
                .withMinSizeUm2(s.minimumUm2)
                .withReplaceExisting(s.replace);
        if (s.startsFromModel()) {
            o = o.withStartFrom(Models.resolve(s.startFrom, FindNucleiDnn.searchPath()));
        }
        return o;
    }

    /** A small window with the progress and a button that stops training, keeping the best. */
    private static final class Monitor {
        private final Frame frame;
        private final Label status;
        private volatile boolean stopRequested;

        Monitor(String title, String name, boolean show) {
            if (!show) {
                frame = null;
                status = null;
                return;
            }
            frame = new Frame(title + ": " + name);
            frame.setLayout(new FlowLayout(FlowLayout.LEFT));
            status = new Label("preparing the training targets…                              ");
            Button stop = new Button("Stop (keep the best epoch)");
            stop.addActionListener(e -> {
                stopRequested = true;
                status.setText("stopping after this step…");
            });
            frame.add(status);
            frame.add(stop);
            frame.addWindowListener(new WindowAdapter() {
                @Override
                public void windowClosing(WindowEvent e) {
                    stopRequested = true;
                }
            });
            frame.pack();
            frame.setVisible(true);
        }

        void show(String text) {
            if (status != null) {
                status.setText(text);
            }
        }

        boolean stopRequested() {
            return stopRequested || IJ.escapePressed();
        }

        void close() {
            if (frame != null) {
                frame.dispose();
            }
        }
    }

    /**
     * Trains and reports, shared by the training commands ({@code title} names the one that
     * runs): one training at a time, the progress window with its Stop button when
     * {@code background}, the Log, and the summary macros read.
     */
    static void train(String title, List<TrainingField> fields, TrainingOptions options,
            TrainNucleiSettings s, double pixelSize, boolean background) {
        if (!RUNNING.compareAndSet(false, true)) {
            FindNucleiDnn.fail(title, "a training is already running: wait for it or stop it",
                    background);
            return;
        }
        IJ.resetEscape();
        Monitor monitor = new Monitor(title, s.name, background);
        long start = System.nanoTime();
        IJ.log(String.format(Locale.ROOT, "%s: training \"%s\" (%s U-Net) on %d field%s, pixel "
                + "size %.4g µm, at most %d epochs%s; Esc stops and keeps the best epoch",
                title, s.name, s.architecture, fields.size(), fields.size() == 1 ? "" : "s",
                pixelSize, s.epochs, s.timeMinutes > 0
                        ? String.format(Locale.ROOT, " or %.0f min", s.timeMinutes) : ""));
        TrainingListener listener = new TrainingListener() {
            private double best = Double.NaN;

            @Override
            public void onPreparing(int done, int total) {
                IJ.showProgress(done, total);
                String text = String.format(Locale.ROOT, "training targets, field %d/%d",
                        done, total);
                IJ.showStatus(title + ": " + text);
                monitor.show(text);
            }

            @Override
            public void onStep(int epoch, int step, int stepsPerEpoch, double loss) {
                double done = ((epoch - 1) + step / (double) stepsPerEpoch) / s.epochs;
                IJ.showProgress(Math.min(done, 1.0));
                String text = String.format(Locale.ROOT, "epoch %d, step %d/%d, loss %.3f, best "
                        + "validation F1 %.3f", epoch, step, stepsPerEpoch, loss, best);
                IJ.showStatus(title + ": " + text);
                monitor.show(text);
            }

            @Override
            public void onEpoch(int epoch, int maxEpochs, double trainLoss, double validationLoss,
                    double validationF1, double bestF1, double seconds) {
                best = bestF1;
                IJ.log(String.format(Locale.ROOT, "%s: epoch %d/%d: loss %.4f, validation loss "
                        + "%.4f, validation F1 %.3f (best %.3f), %.0f s", title, epoch, maxEpochs,
                        trainLoss, validationLoss, validationF1, bestF1, seconds));
            }

            @Override
            public boolean isCancelled() {
                return monitor.stopRequested();
            }
        };
        try {
            TrainingResult r = NucleiTrainer.train(fields, options, listener);
            Map<String, String> summary = new LinkedHashMap<>();
            summary.put("Model", r.name());
            summary.put("Folder", r.folder().toString());
            summary.put("Stop", r.stop().name().toLowerCase(Locale.ROOT));
            summary.put("Epochs", String.valueOf(r.epochs()));
            summary.put("Best Epoch", String.valueOf(r.bestEpoch()));
            summary.put("Validation F1", String.valueOf(r.validationF1()));
            summary.put("Threshold", String.valueOf(r.threshold()));
            summary.put("Split Depth [px]", String.valueOf(r.splitDepthPx()));
            summary.put("Engine", r.engine());
            Brightseg.recordSuccess(summary);
            IJ.log(String.format(Locale.ROOT, "%s: %s (%.1f min). Find Nuclei DNN lists it as "
                    + "\"%s\".", title, r, (System.nanoTime() - start) / 6e10, r.name()));
            if (r.bestEpoch() == 0 && s.startsFromModel()) {
                IJ.log(title + ": no epoch did better on the validation data than " + s.startFrom
                        + ", so the new model keeps its weights.");
            }
            IJ.showStatus(title + ": model " + r.name() + " saved");
        } catch (CancellationException e) {
            FindNucleiDnn.fail(title, describe(e), false);
        } catch (Exception | LinkageError e) {
            FindNucleiDnn.fail(title, describe(e), background);
        } catch (OutOfMemoryError e) {
            FindNucleiDnn.fail(title, FindNucleiDnn.OUT_OF_MEMORY, background);
        } finally {
            RUNNING.set(false);
            monitor.close();
            IJ.showProgress(1.0);
        }
    }
}
