package io.github.brightseg.fiji;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.io.FileSaver;
import ij.measure.ResultsTable;

/**
 * Helpers for ImageJ macros, called with {@code call("io.github.brightseg.fiji.Brightseg.…")}.
 * Commands of brightseg never open a modal dialog when run from a macro; they record their error
 * here, print it to the log and to stderr, and the macro decides:
 *
 * <pre>
 * run("Find Nuclei DNN", "channel=1 model=nuclei-brightfield");
 * err = call("io.github.brightseg.fiji.Brightseg.lastError");
 * if (err != "") exit(err);
 * n = call("io.github.brightseg.fiji.Brightseg.summary", "Number of Objects");
 * // at the end of a batch script run with ImageJ -batch, exit non-zero on failure:
 * call("io.github.brightseg.fiji.Brightseg.exitOnError");
 * </pre>
 */
public final class Brightseg {
    private static volatile String lastError = "";
    private static volatile boolean anyError;
    private static volatile Map<String, String> lastSummary = Collections.emptyMap();
    private static final Map<String, ResultsTable> TABLES = new LinkedHashMap<>();
    private static final Map<String, ImagePlus> OUTPUT_IMAGES = new LinkedHashMap<>();

    private Brightseg() {
    }

    /** The error of the last brightseg command, or "" when it succeeded. */
    public static String lastError() {
        return lastError;
    }

    /** "true" when the last brightseg command succeeded. */
    public static String succeeded() {
        return String.valueOf(lastError.isEmpty());
    }

    /**
     * Ends the JVM with exit code 1 (after printing the error to stderr) when any brightseg command
     * of this session failed; otherwise does nothing. For batch scripts: {@code ImageJ -batch}
     * always exits 0 by itself.
     */
    public static String exitOnError() {
        if (anyError) {
            System.err.println("brightseg: exiting with status 1: " + (lastError.isEmpty()
                    ? "an earlier command failed" : lastError));
            System.err.flush();
            System.exit(1);
        }
        return "";
    }

    /** Ends the JVM with the given exit code (a number), e.g. from a batch script. */
    public static String exit(String code) {
        int status;
        try {
            status = Integer.parseInt(code.trim());
        } catch (NumberFormatException e) {
            status = 2;
        }
        System.out.flush();
        System.err.flush();
        System.exit(status);
        return "";
    }

    /** A value of the last summary row (e.g. "Number of Objects"), or "" when there is none. */
    public static String summary(String column) {
        String v = lastSummary.get(column);
        if (v == null) {
            String wanted = columnKey(column);
            for (Map.Entry<String, String> e : lastSummary.entrySet()) {
                if (columnKey(e.getKey()).equals(wanted)) {
                    return e.getValue();
                }
            }
        }
        return v == null ? "" : v;
    }

    /**
     * A column name reduced to ASCII letters, digits and %, with µm² (also typed um2, or garbled
     * by a macro file read in another encoding) as "um2": "Size [µm²] Mean" → "sizeum2mean".
     */
    static String columnKey(String column) {
        String t = column.toLowerCase(java.util.Locale.ROOT)
                .replace("µm²", "um2").replace("\u03bcm²", "um2").replace("um^2", "um2")
                .replaceAll("[^\\x00-\\x7f]+m[^\\x00-\\x7f]+", "um2");
        return t.replaceAll("[^a-z0-9%]", "");
    }

    /**
     * Saves the table titled {@code title} (e.g. "Nuclei" or "Nuclei Summary") as CSV; works
     * where no table window exists (batch mode, headless). Returns "" or the error.
     */
    public static String saveTable(String title, String path) {
        ResultsTable table = table(title);
        if (table == null) {
            return "no table named \"" + title + "\"";
        }
        try {
            java.nio.file.Files.write(java.nio.file.Paths.get(path),
                    csv(table).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return "";
        } catch (java.io.IOException | RuntimeException e) {
            return "cannot save " + path + ": " + e.getMessage();
        }
    }

    /** A table as CSV with every digit (ImageJ's own "Save As" rounds to the shown decimals). */
    static String csv(ResultsTable table) {
        StringBuilder out = new StringBuilder();
        String[] headings = table.getHeadings();
        java.util.List<String> columns = new java.util.ArrayList<>();
        for (String h : headings) {
            if (!h.equals(" ") && !h.isEmpty()) {
                columns.add(h);
            }
        }
        for (int c = 0; c < columns.size(); c++) {
            out.append(c > 0 ? "," : "").append(quote(columns.get(c)));
        }
        out.append('\n');
        for (int row = 0; row < table.size(); row++) {
            for (int c = 0; c < columns.size(); c++) {
                out.append(c > 0 ? "," : "").append(quote(cell(table, columns.get(c), row)));
            }
            out.append('\n');
        }
        return out.toString();
    }

    /** A cell as text: numbers with every digit, text as is, NaN as "NaN". */
    static String cell(ResultsTable table, String column, int row) {
        String text = table.getStringValue(column, row);
        double value = table.getValue(column, row);
        if (text != null && isNumber(text) && !Double.isNaN(value)) {
            return repr(value);
        }
        return text == null ? "" : text;
    }

    private static boolean isNumber(String text) {
        try {
            Double.parseDouble(text);
            return true;
        } catch (NumberFormatException | NullPointerException e) {
            return false;
        }
    }

    private static String repr(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return String.valueOf((long) v);
        }
        return String.valueOf(v);
    }

    private static String quote(String s) {
        if (s.contains(",") || s.contains("\"") || s.contains("\n")) {
            return "\"" + s.replace("\"", "\"\"") + "\"";
        }
        return s;
    }

    /**
     * Opens the image file {@code imagePath} and runs Find Nuclei DNN on it with {@code options}
     * (the same keys as the command). This is the route for plain ImageJ without a display, where
     * neither {@code open()} nor {@code run()} works; it also works everywhere else. Returns ""
     * on success, else the error (also in {@link #lastError()}).
     */
    public static String findNuclei(String imagePath, String options) {
        return openAndRun(imagePath, options, new FindNucleiDnn());
    }

    /** As {@link #findNuclei}, for Find Artifacts DNN. */
    public static String findArtifacts(String imagePath, String options) {
        return openAndRun(imagePath, options, new FindArtifactsDnn());
    }

    private static String openAndRun(String imagePath, String options, FindNucleiDnn command) {
        ImagePlus imp;
        try {
            imp = IJ.openImage(imagePath);
        } catch (RuntimeException e) {
            imp = null;
        } catch (OutOfMemoryError e) {
            // One huge array the header asked for, refused at once: the heap is still fine.
            String message = "cannot open image " + imagePath + ": it needs more memory than "
                    + "ImageJ has (Edit › Options › Memory & Threads), or its header is corrupt";
            FindNucleiDnn.fail(message, false);
            return message;
        }
        if (imp == null) {
            String message = "cannot open image " + imagePath
                    + ": not a file ImageJ can read (TIFF, PNG, JPEG, …)";
            FindNucleiDnn.fail(message, false);
            return message;
        }
        WindowManager.setTempCurrentImage(imp);
        command.run(options == null ? "" : options);
        return lastError;
    }

    /**
     * Saves the image titled {@code title} (e.g. "Nuclei Labels") as TIFF, also where it has no
     * window (batch mode, headless). Returns "" or the error.
     */
    public static String saveImage(String title, String path) {
        ImagePlus imp = OUTPUT_IMAGES.get(title);
        if (imp == null) {
            imp = WindowManager.getImage(title);
        }
        if (imp == null) {
            return "no image named \"" + title + "\"";
        }
        return new FileSaver(imp).saveAsTiff(path) ? "" : "cannot save " + path;
    }

    /** Number of rows of the table titled {@code title}, or -1 when there is none. */
    public static String rows(String title) {
        ResultsTable table = table(title);
        return String.valueOf(table == null ? -1 : table.size());
    }

    static void recordSuccess(Map<String, String> summaryRow) {
        lastError = "";
        lastSummary = Collections.unmodifiableMap(new LinkedHashMap<>(summaryRow));
    }

    static void recordError(String message) {
        lastError = message;
        anyError = true;
        lastSummary = Collections.emptyMap();
    }

    static void clearError() {
        lastError = "";
    }

    /**
     * The options of a command's run: the macro's, else those {@code IJ.runPlugIn(class,
     * options)} passed as {@code arg} (the truly headless route); null when run from the menu.
     */
    static String macroOptions(String arg) {
        String options = ij.Macro.getOptions();
        if (options == null && arg != null && !arg.trim().isEmpty()) {
            return arg;
        }
        return options;
    }

    /** Whether a run with these {@link #macroOptions} talks to a user: dialogs, error boxes. */
    static boolean interactive(String options) {
        return options == null && !java.awt.GraphicsEnvironment.isHeadless() && !IJ.isMacro();
    }

    /** Remembers an output image so macros can save it where no window exists. */
    static synchronized void rememberImage(ImagePlus imp) {
        OUTPUT_IMAGES.put(imp.getTitle(), imp);
    }

    /**
     * The table with this title: the one brightseg keeps (full precision), else a table window
     * of that title (ImageJ keeps only the shown decimals there).
     */
    static synchronized ResultsTable table(String title) {
        ResultsTable ours = TABLES.get(title);
        if (ours != null) {
            return ours;
        }
        try {
            return ResultsTable.getResultsTable(title);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** The table with this title, created when missing. */
    static synchronized ResultsTable tableOrNew(String title) {
        ResultsTable t = table(title);
        if (t == null) {
            t = new ResultsTable();
            t.showRowNumbers(false);
        }
        TABLES.put(title, t);
        return t;
    }
}
