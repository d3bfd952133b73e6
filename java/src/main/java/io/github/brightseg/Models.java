package io.github.brightseg;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Finding models: a model is a folder with a {@code bioimageio.yaml} (or {@code rdf.yaml}), its
 * ONNX weights and a licence; a search path is a list of folders holding model folders. The
 * search itself is the native core's, so Fiji and the CLI find the same models.
 */
public final class Models {
    private Models() {
    }

    /**
     * The default search path: {@code $BRIGHTSEG_MODEL_PATH} (folders separated by
     * {@code File.pathSeparator}), then {@code ~/.local/share/brightseg/models}. Front ends add
     * their own folders (Fiji: {@code Fiji.app/models}).
     */
    public static List<Path> defaultSearchPath() {
        List<Path> dirs = new ArrayList<>();
        String env = System.getenv("BRIGHTSEG_MODEL_PATH");
        if (env != null) {
            for (String part : env.split(File.pathSeparator)) {
                if (!part.isEmpty()) {
                    dirs.add(Paths.get(part));
                }
            }
        }
        dirs.add(Paths.get(System.getProperty("user.home"), ".local", "share", "brightseg", "models"));
        return dirs;
    }

    /** Every model folder on {@code searchPath}; the first folder of a name wins. */
    public static List<Path> discover(List<Path> searchPath) {
        String joined = join(searchPath);
        String found = NativeLib.call(() -> NativeLib.discoverModels(joined));
        List<Path> models = new ArrayList<>();
        for (String line : found.split("\n")) {
            if (!line.isEmpty()) {
                models.add(Paths.get(line));
            }
        }
        return Collections.unmodifiableList(models);
    }

    /**
     * A model given by folder (or description file) path, or by a folder name on the path; the
     * same rules and message as the CLI (the native catalog).
     */
    public static Path resolve(String nameOrPath, List<Path> searchPath) throws FileNotFoundException {
        if (nameOrPath == null || nameOrPath.trim().isEmpty()) {
            throw new IllegalArgumentException("no model given: choose a model or a model folder");
        }
        String joined = join(searchPath);
        NativeLib.ensureLoaded();
        try {
            return Paths.get(NativeLib.call(() -> NativeLib.resolveModel(nameOrPath, joined)));
        } catch (BrightsegException e) {
            // The native catalog's "not found" (it names the known models and the folders).
            throw new FileNotFoundException(e.getMessage());
        }
    }

    /**
     * The threshold, minimum size and pixel size the model in {@code folder} suggests, read from
     * its description without loading the network (what a dialog pre-fills; a call that leaves
     * them unset uses the same values). A missing folder is a {@link FileNotFoundException}, a
     * description that cannot be read a {@link BrightsegException}.
     */
    public static ModelDefaults defaults(Path folder) throws IOException {
        if (folder == null) {
            throw new IllegalArgumentException("no model folder given");
        }
        if (!java.nio.file.Files.exists(folder)) {
            throw new FileNotFoundException("model " + folder + " not found: give a model "
                    + "folder (with bioimageio.yaml and an ONNX file) or its bioimageio.yaml");
        }
        double[] d = NativeLib.call(() -> NativeLib.cardDefaults(folder.toString()));
        return new ModelDefaults(d[0], d[1], d[2]);
    }

    private static String join(List<Path> searchPath) {
        StringBuilder joined = new StringBuilder();
        for (Path p : searchPath) {
            if (joined.length() > 0) {
                joined.append(File.pathSeparator);
            }
            joined.append(p);
        }
        return joined.toString();
    }
}
