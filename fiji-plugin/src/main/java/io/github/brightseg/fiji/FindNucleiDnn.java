package io.github.brightseg.fiji;

import java.awt.GraphicsEnvironment;
import java.awt.HeadlessException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.io.DirectoryChooser;
import ij.macro.Interpreter;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import ij.plugin.frame.Recorder;
import ij.plugin.frame.RoiManager;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;

import io.github.brightseg.ModelDefaults;
import io.github.brightseg.Models;
import io.github.brightseg.NativeLog;
import io.github.brightseg.NucleiParams;
import io.github.brightseg.NucleiResult;
import io.github.brightseg.ProgressListener;
import io.github.brightseg.Segmenter;
import io.github.brightseg.SegmenterOptions;

/**
 * {@code Plugins › brightseg › Find Nuclei DNN}: finds nuclei in the current image with a U-Net,
 * Harmony style. Outputs: a per-object table named after the population, a summary table
 * ("population Summary", one row per image plane, appended across a batch), outlines in the ROI
 * Manager and as an overlay, the probability image and the label image.
 *
 * <p>Three ways to run it: from the menu (a dialog, recorded by the macro recorder); from a macro
 * with options ({@code run("Find Nuclei DNN", "channel=1 model=…")}, no dialog; also in Fiji's
 * {@code --headless}); and in plain ImageJ without a display through
 * {@code call("ij.IJ.runPlugIn", "io.github.brightseg.fiji.FindNucleiDnn", "channel=1 model=…")}.
 * Macro keys are listed in {@link FindNucleiSettings}. From a macro, errors never open a dialog:
 * see {@link Brightseg}.
 */
public class FindNucleiDnn implements PlugIn {
    private static final String TITLE = Population.NUCLEI.title;

    /** Models kept open for the next image of a batch, by role (what they find). */
    private static final Map<String, Segmenter> CACHED = new LinkedHashMap<>();
    private static final Map<String, String> CACHED_KEYS = new LinkedHashMap<>();

    /** What this command finds. */
    private final Population kind;

    /** Find Nuclei DNN. */
    public FindNucleiDnn() {
        this(Population.NUCLEI);
    }

    /** The command for {@code kind}. */
    FindNucleiDnn(Population kind) {
        this.kind = kind;
    }

    @Override
    public void run(String arg) {
        Brightseg.clearError();
        NativeLogToImageJ.install();
        boolean interactive = Brightseg.interactive(Brightseg.macroOptions(arg));
        try {
            runChecked(arg);
        } catch (Exception | LinkageError e) {
            fail(kind.title, describe(e), interactive);
        } catch (OutOfMemoryError e) {
            // The planes of this run are unreachable here, so reporting has room again; without
            // this, a macro saw an empty lastError and exitOnError exited 0.
            fail(kind.title, OUT_OF_MEMORY, interactive);
        } finally {
            IJ.showProgress(1.0);
        }
    }

    private static String describe(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isEmpty()) {
            message = e.getClass().getSimpleName();
        }
        if (e instanceof IOException && !(e instanceof java.io.FileNotFoundException)) {
            message = "file problem: " + message;
        }
        // A calibration in the wrong unit: in Fiji the fix is the image's properties, not an
        // option of the command line or the Java API.
        int accept = message.indexOf(" To run at this pixel size anyway");
        if (e instanceof IllegalArgumentException && accept >= 0) {
            message = message.substring(0, accept) + " Correct the pixel size and its unit in "
                    + "Image › Properties… and run again.";
        }
        return message;
    }

    /** What a user reads when the Java heap ran out, with what helps (made before it is needed). */
    static final String OUT_OF_MEMORY = "Java ran out of memory (ImageJ may use up to "
            + (Runtime.getRuntime().maxMemory() >> 20) + " MB): untick \"Probability image\" "
            + "(macro: leave out 'probability'), close other images, or give ImageJ more memory "
            + "(Edit › Options › Memory & Threads, or java -Xmx)";

    /** Reports a failure: recorded for macros, logged, on stderr; a dialog only when interactive. */
    static void fail(String message, boolean interactive) {
        fail(TITLE, message, interactive);
    }

    /** As {@link #fail(String, boolean)}, for the command called {@code title}. */
    static void fail(String title, String message, boolean interactive) {
        Brightseg.recordError(message);
        IJ.log(title + " failed: " + message);
        System.err.println("brightseg: " + title + " failed: " + message);
        IJ.showStatus(title + " failed");
        if (interactive) {
            IJ.error(title, message);
        }
    }

    /** The shipped nuclei model trained on several labs' images. */
    static final String GENERALIST = "nuclei-brightfield-generalist";

    /**
     * The end of a "may not suit" Log line that names {@link #GENERALIST}: empty when
     * {@code model} is that model or it is not installed.
     */
    static String generalistHint(String model) {
        if (GENERALIST.equals(model)) {
            return "";
        }
        try {
            Models.resolve(GENERALIST, searchPath());
        } catch (FileNotFoundException e) {
            return "";
        }
        return " Or first try the model trained on three labs' images: model=" + GENERALIST + ".";
    }

    /** Folders searched for models: Fiji.app/models, then the Java API's defaults. */
    static List<Path> searchPath() {
        List<Path> dirs = new ArrayList<>();
        String ijDir = IJ.getDirectory("imagej");
        if (ijDir != null) {
            dirs.add(Paths.get(ijDir, "models"));
        }
        String pluginsDir = IJ.getDirectory("plugins");
        if (pluginsDir != null) {
            dirs.add(Paths.get(pluginsDir).resolveSibling("models"));
        }
        dirs.addAll(Models.defaultSearchPath());
        List<Path> unique = new ArrayList<>();
        for (Path d : dirs) {
            Path n = d.toAbsolutePath().normalize();
            if (!unique.contains(n)) {
                unique.add(n);
            }
        }
        return unique;
    }

    private void runChecked(String arg) throws IOException {
        String options = Brightseg.macroOptions(arg);
        ImagePlus imp = WindowManager.getCurrentImage();
        if (imp == null) {
            throw new IllegalArgumentException("no image is open: open the image to segment first");
        }
        int channels = ImagePlanes.channels(imp);
        double[] pixelSize = ImagePlanes.pixelSizeUm(imp);
        List<Path> searchPath = searchPath();
        FindNucleiSettings s;
        if (options != null) {
            s = FindNucleiSettings.fromMacro(options, kind);
            if (s.channel == 0) {
                if (channels > 1) {
                    throw new IllegalArgumentException("\"" + imp.getTitle() + "\" has " + channels
                            + " channels: choose the one to segment with channel=1 … channel="
                            + channels);
                }
                s.channel = 1;
            }
        } else if (GraphicsEnvironment.isHeadless()) {
            throw new IllegalArgumentException("no options given and no display for a dialog: "
                    + "give options, e.g. \"channel=1 model=<name or folder>\"");
        } else if (IJ.isMacro() && Interpreter.isBatchMode()) {
            // A dialog nobody can see would wait forever (ImageJ -batch on a server).
            throw new IllegalArgumentException("no options given in a batch-mode macro: give "
                    + "them, e.g. run(\"" + kind.title + "\", \"channel=1 model=<name or folder>\")");
        } else {
            s = askUser(imp, channels, searchPath, pixelSize);
            if (s == null) {
                return; // cancelled
            }
        }
        if (s.channel > channels) {
            throw new IllegalArgumentException("channel " + s.channel + " does not exist: \""
                    + imp.getTitle() + "\" has " + channels + " channel" + (channels > 1 ? "s" : ""));
        }
        if (pixelSize == null) {
            IJ.log(kind.title + ": \"" + imp.getTitle() + "\" is not calibrated; sizes assume 1 µm per "
                    + "pixel (set the pixel size with Image › Properties…)");
        }
        Path modelPath = Models.resolve(s.model, searchPath);
        Segmenter segmenter = segmenter(kind.name(), modelPath, s);
        Segmenter artifacts = null;
        if (s.excludeArtifacts) {
            artifacts = segmenter("EXCLUDE", Models.resolve(s.artifactModel, searchPath), s);
        }
        process(imp, s, segmenter, artifacts, pixelSize);
    }

    /** "0.5 µm", or "0.5 × 0.6 µm" for pixels that are not square. */
    static String micrometres(double[] pixelSize) {
        String w = shortNumber(pixelSize[0]);
        String h = shortNumber(pixelSize[1]);
        return (w.equals(h) ? w : w + " × " + h) + " µm";
    }

    private static String shortNumber(double v) {
        String s = String.format(java.util.Locale.ROOT, "%.4f", v);
        s = s.replaceAll("0+$", "");
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }

    /** {threshold, minimum size} of the model called {@code name}, or null when unreadable. */
    private static double[] modelDefaults(String name, List<Path> searchPath) {
        try {
            ModelDefaults d = Models.defaults(Models.resolve(name, searchPath));
            return new double[] {d.threshold(), d.minSizeUm2()};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private FindNucleiSettings askUser(ImagePlus imp, int channels, List<Path> searchPath,
            double[] pixelSize) {
        List<String> names = new ArrayList<>();
        for (Path p : Models.discover(searchPath)) {
            names.add(String.valueOf(p.getFileName()));
        }
        names.add(FindNucleiSettings.CUSTOM_CHOICE);
        String[] channelChoices = new String[channels];
        for (int c = 0; c < channels; c++) {
            channelChoices[c] = String.valueOf(c + 1);
        }
        String note = pixelSize == null
                ? "This image is not calibrated: sizes will assume 1 µm per pixel.\nSet the pixel "
                        + "size with Image > Properties... first."
                : "Pixel size: " + micrometres(pixelSize) + " (from the image; Image > "
                        + "Properties... changes it).\nThe image is resampled to the model's pixel "
                        + "size when they differ.";
        GenericDialog gd;
        try {
            gd = FindNucleiSettings.dialog(kind, channelChoices, imp.getChannel(),
                    names.toArray(new String[0]), note, name -> modelDefaults(name, searchPath));
        } catch (HeadlessException e) {
            throw new IllegalArgumentException("no display for the dialog: give macro options");
        }
        gd.showDialog();
        if (gd.wasCanceled()) {
            return null;
        }
        FindNucleiSettings s = FindNucleiSettings.fromDialog(gd, kind, channels > 1,
                names.toArray(new String[0]));
        if (s.model.isEmpty()) {
            String dir = new DirectoryChooser("Choose a model folder").getDirectory();
            if (dir == null) {
                return null;
            }
            s.model = dir;
            // The dialog recorded an empty custom=; record the chosen folder under its own key.
            if (Recorder.record) {
                Recorder.recordOption(FindNucleiSettings.FOLDER_KEY, dir);
            }
        }
        return s;
    }

    private static synchronized Segmenter segmenter(String role, Path model, FindNucleiSettings s)
            throws IOException {
        String key = model.toAbsolutePath().normalize() + "|" + s.backend + "|"
                + s.onnxRuntimeLibrary + "|" + s.memoryBudgetMB;
        Segmenter cached = CACHED.get(role);
        if (cached != null && key.equals(CACHED_KEYS.get(role)) && !cached.isClosed()) {
            return cached;
        }
        if (cached != null) {
            cached.close();
            CACHED.remove(role);
        }
        IJ.showStatus("brightseg: loading model " + model.getFileName() + "…");
        SegmenterOptions options = SegmenterOptions.defaults().withBackend(s.backend)
                .withMemoryBudget((long) (s.memoryBudgetMB * (1 << 20)));
        if (!s.onnxRuntimeLibrary.isEmpty()) {
            options = options.withOnnxRuntimeLibrary(Paths.get(s.onnxRuntimeLibrary));
        }
        Segmenter opened = Segmenter.open(model, options);
        CACHED.put(role, opened);
        CACHED_KEYS.put(role, key);
        return opened;
    }

    private static final class Plane {
        final int z;
        final int t;
        final NucleiResult result;

        Plane(int z, int t, NucleiResult result) {
            this.z = z;
            this.t = t;
            this.result = result;
        }
    }

    private void process(ImagePlus imp, FindNucleiSettings s, Segmenter segmenter,
            Segmenter artifacts, double[] pixelSize) {
        int slices = imp.getNSlices();
        int frames = imp.getNFrames();
        int planes = slices * frames;
        NucleiParams base = NucleiParams.defaults()
                .withThreshold(s.threshold)
                .withMinSizeUm2(s.minimumUm2)
                .withSplit(kind.split)
                .withRefinement(s.refinement)
                // Every plane's result is held until the tables and images are built: without
                // the probability image asked for, its planes are not kept at all.
                .withProbability(s.probability);
        if (pixelSize != null) {
            base = base.withPixelSizeUm(pixelSize[0], pixelSize[1]);
        }
        // Artifacts (for the exclusion) take their model's defaults and are never split.
        NucleiParams artifactParams =
                NucleiParams.defaults().withSplit(false).withProbability(false);
        if (pixelSize != null) {
            artifactParams = artifactParams.withPixelSizeUm(pixelSize[0], pixelSize[1]);
        }
        List<Plane> results = new ArrayList<>(planes);
        long start = System.nanoTime();
        for (int t = 1; t <= frames; t++) {
            for (int z = 1; z <= slices; z++) {
                final int index = results.size();
                ProgressListener progress = (stage, done, total) -> {
                    double within = stage == ProgressListener.Stage.INFERENCE
                            ? 0.9 * done / Math.max(1, total) : 0.9 + 0.1 * done / Math.max(1, total);
                    IJ.showProgress((index + within) / planes);
                    IJ.showStatus(kind.title + ": " + (planes > 1 ? "plane " + (index + 1) + "/" + planes
                            + ", " : "") + (stage == ProgressListener.Stage.INFERENCE
                                    ? "tile " + done + "/" + total : "measuring"));
                };
                NucleiParams params = base.withProgress(progress);
                if (artifacts != null) {
                    NucleiResult found = ImagePlanes.findNuclei(artifacts, imp, s.channel, z, t,
                            artifactParams);
                    params = params.withExclusionMask(ImagePlanes.mask(found.labels()));
                }
                NucleiResult r = ImagePlanes.findNuclei(segmenter, imp, s.channel, z, t, params);
                results.add(new Plane(z, t, r));
            }
        }
        String title = imp.getTitle();
        String channel = String.valueOf(s.channel);
        ResultsTable objects = Brightseg.tableOrNew(s.population);
        objects.reset();
        ResultsTable summary = Brightseg.tableOrNew(s.population + " Summary");
        Map<String, String> lastRow = new LinkedHashMap<>();
        int total = 0;
        PlatePosition plate = PlatePosition.of(imp);
        for (Plane p : results) {
            NucleiTables.addObjects(objects, plate, title, p.t, p.z, p.result);
            NucleiTables.addSummary(summary, plate, title, channel, p.t, p.z, p.result,
                    artifacts != null, kind.reportsCoverage);
            total += p.result.nuclei().size();
        }
        for (String column : summary.getHeadings()) {
            lastRow.put(column, Brightseg.cell(summary, column, summary.size() - 1));
        }
        show(objects, s.population);
        show(summary, s.population + " Summary");
        boolean stack = imp.getStackSize() > 1;
        if (s.outlines) {
            addOutlines(imp, results, s, stack);
        }
        if (s.probability) {
            showImage(imp, s.imageName, results, true);
        }
        if (s.labelImage) {
            showImage(imp, s.population + " Labels", results, false);
        }
        NucleiResult first = results.get(0).result;
        IJ.log(String.format("%s: %s — %d %s in %d plane%s (threshold %.2f, minimum %.1f µm², "
                + "model %s, %s) in %.1f s", kind.title, title, total, s.population, planes,
                planes > 1 ? "s" : "", first.threshold(), first.minSizeUm2(), first.model(),
                first.backend(), (System.nanoTime() - start) / 1e9));
        int unsuited = 0;
        double worst = 0;
        for (Plane pr : results) {
            if (pr.result.mayNotSuitImage()) {
                unsuited++;
                worst = Math.max(worst, pr.result.uncertainPercent());
            }
        }
        if (unsuited > 0) {
            IJ.log(String.format("%s: the model %s may not suit \"%s\": in %d of %d plane%s far "
                    + "more of the pixels it gave a chance are uncertain than on images it suits "
                    + "(up to %.0f %%). "
                    + "Fine-tune it on one field of these images with a nuclear stain: Plugins › "
                    + "brightseg › Train Nuclei DNN, starting from %s.%s", kind.title,
                    first.model(), title, unsuited, planes, planes > 1 ? "s" : "", worst,
                    first.model(), kind == Population.NUCLEI ? generalistHint(first.model()) : ""));
        }
        IJ.showStatus(kind.title + ": " + total + " " + s.population);
        Brightseg.recordSuccess(lastRow);
    }

    private static void show(ResultsTable table, String title) {
        try {
            table.show(title);
        } catch (HeadlessException e) {
            // No window without a display; macros reach the table through Brightseg.
        }
    }

    private void addOutlines(ImagePlus imp, List<Plane> results, FindNucleiSettings s,
            boolean stack) {
        Overlay overlay = new Overlay();
        List<Roi> all = new ArrayList<>();
        for (Plane p : results) {
            List<Roi> rois = NucleiOutlines.rois(p.result, s.population, s.channel, p.z, p.t, stack);
            for (Roi roi : rois) {
                roi.setStrokeColor(java.awt.Color.YELLOW);
                overlay.add(roi);
            }
            all.addAll(rois);
        }
        imp.setOverlay(overlay);
        RoiManager rm;
        try {
            rm = RoiManager.getInstance2();
            if (rm == null) {
                rm = Interpreter.isBatchMode() ? Interpreter.getBatchModeRoiManager()
                        : new RoiManager();
            }
        } catch (HeadlessException e) {
            IJ.log(kind.title + ": no ROI Manager without a display; outlines are on the image's "
                    + "overlay");
            return;
        }
        if (rm == null) {
            return;
        }
        for (Roi roi : all) {
            rm.addRoi(roi);
        }
    }

    private static void showImage(ImagePlus source, String title, List<Plane> results,
            boolean probability) {
        int w = source.getWidth();
        int h = source.getHeight();
        int maxLabel = 0;
        for (Plane p : results) {
            maxLabel = Math.max(maxLabel, p.result.maxLabel());
        }
        ImageStack stack = new ImageStack(w, h);
        for (Plane p : results) {
            ImageProcessor ip;
            if (probability) {
                ip = new FloatProcessor(w, h, p.result.probability());
            } else if (maxLabel <= 65535) {
                short[] px = new short[w * h];
                int[] labels = p.result.labels();
                for (int i = 0; i < px.length; i++) {
                    px[i] = (short) labels[i];
                }
                ip = new ShortProcessor(w, h, px, null);
            } else {
                float[] px = new float[w * h];
                int[] labels = p.result.labels();
                for (int i = 0; i < px.length; i++) {
                    px[i] = labels[i];
                }
                ip = new FloatProcessor(w, h, px);
            }
            stack.addSlice(null, ip);
        }
        ImagePlus out = new ImagePlus(title, stack);
        out.setDimensions(1, source.getNSlices(), source.getNFrames());
        out.setCalibration(source.getCalibration().copy());
        out.getCalibration().disableDensityCalibration();
        if (probability) {
            out.setDisplayRange(0, 1);
        } else {
            out.setDisplayRange(0, Math.max(1, maxLabel));
        }
        Brightseg.rememberImage(out);
        try {
            out.show();
        } catch (HeadlessException e) {
            // No display: the image stays reachable through Brightseg.saveImage.
        }
    }

    /** Sends the native log to the ImageJ log (once per session). */
    static final class NativeLogToImageJ {
        private static boolean installed;

        static synchronized void install() {
            if (!installed) {
                NativeLog.setSink((level, message) -> {
                    if (!"DEBUG".equals(level) && !"TRACE".equals(level)) {
                        IJ.log("brightseg " + level.toLowerCase(java.util.Locale.ROOT) + ": " + message);
                    }
                });
                installed = true;
            }
        }
    }
}
