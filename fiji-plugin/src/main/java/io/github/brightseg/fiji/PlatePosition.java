package io.github.brightseg.fiji;

import java.io.File;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import ij.ImagePlus;
import ij.io.FileInfo;

/**
 * Where an image sits on a plate, as screening exports and Bio-Formats name it: the well and
 * field from the image's title (a Bio-Formats series name such as {@code plate.ome.tif - Well
 * B02, Field #1}, or an instrument's file name: Harmony {@code r02c03f04p01-ch1sk1fk1fl1.tiff},
 * MetaXpress {@code Plate_B03_s2_w1.tif}, CellVoyager {@code Plate_B03_T0001F002L01A01Z01C01.tif})
 * and the plate from the series' file or the export's folder. The same names the CLI's
 * {@code merge --naming} presets read, so the Fiji tables and the CLI's carry the same Plate,
 * Well and Field.
 */
final class PlatePosition {
    /** Plate name; empty when nothing names it. */
    final String plate;
    /** Well, row letters and two-digit column ({@code B03}). */
    final String well;
    /** Field (site) number, without leading zeros. */
    final String field;

    private PlatePosition(String plate, String well, String field) {
        this.plate = plate;
        this.well = well;
        this.field = field;
    }

    /** A Bio-Formats series name of a plate's field ("Well B02, Field #1"). */
    private static final Pattern SERIES = Pattern.compile(
            "Well ([A-Za-z]{1,2})0*(\\d{1,2}),? Field #?(\\d+)");
    private static final Pattern HARMONY = Pattern.compile(
            "(?:^|[^A-Za-z0-9])r(\\d{1,2})c(\\d{1,2})f(\\d+)(?:p\\d+)?(?:-ch\\d+)?[^/]*$");
    private static final Pattern CELLVOYAGER = Pattern.compile(
            "_([A-Pa-p])(\\d{2})_T\\d{4}F(\\d{3})L\\d{2}A\\d{2}Z\\d{2}C\\d{2}");
    private static final Pattern METAXPRESS = Pattern.compile(
            "(?:^|_)([A-Pa-p])(\\d{1,2})_s(\\d+)(?:_w\\d+)?[^/]*$");

    /** The position {@code imp} was imaged at, or {@code null} when its name does not say. */
    static PlatePosition of(ImagePlus imp) {
        FileInfo info = imp.getOriginalFileInfo();
        String directory = info == null || info.directory == null ? "" : info.directory;
        return of(imp.getTitle(), directory);
    }

    /** The position an image titled {@code title} from folder {@code directory} was imaged at. */
    static PlatePosition of(String title, String directory) {
        Matcher m = SERIES.matcher(title);
        if (m.find()) {
            int dash = title.indexOf(" - ");
            String plate = dash > 0 ? stem(title.substring(0, dash)) : plateFolder(directory);
            return new PlatePosition(plate, well(m.group(1), m.group(2)), number(m.group(3)));
        }
        m = HARMONY.matcher(title);
        if (m.find()) {
            int row = Integer.parseInt(m.group(1));
            if (row < 1 || row > 32) {
                return null;
            }
            return new PlatePosition(plateFolder(directory), well(rowLetters(row), m.group(2)),
                    number(m.group(3)));
        }
        m = CELLVOYAGER.matcher(title);
        if (m.find()) {
            return new PlatePosition(plateFolder(directory), well(m.group(1), m.group(2)),
                    number(m.group(3)));
        }
        m = METAXPRESS.matcher(title);
        if (m.find()) {
            return new PlatePosition(plateFolder(directory), well(m.group(1), m.group(2)),
                    number(m.group(3)));
        }
        return null;
    }

    /** Row 1 → A, 27 → AA (1536-well plates have 32 rows). */
    private static String rowLetters(int row) {
        return row <= 26 ? String.valueOf((char) ('A' + row - 1))
                : "A" + (char) ('A' + row - 27);
    }

    private static String well(String row, String column) {
        return row.toUpperCase() + String.format("%02d", Integer.parseInt(column));
    }

    private static String number(String digits) {
        return String.valueOf(Integer.parseInt(digits));
    }

    /** A file name without its image extension. */
    private static String stem(String name) {
        return name.replaceAll("(?i)(\\.ome)?\\.(tiff?|zarr|png|jpe?g)$", "");
    }

    /**
     * The plate's folder: the image's folder, or the one above when the image's is an export's
     * {@code Images} or a MetaXpress {@code TimePoint_N} / {@code ZStep_N} folder.
     */
    private static String plateFolder(String directory) {
        File folder = new File(directory);
        while (folder != null && folder.getName().matches("Images|TimePoint_\\d+|ZStep_\\d+")) {
            folder = folder.getParentFile();
        }
        return folder == null ? "" : folder.getName();
    }
}
