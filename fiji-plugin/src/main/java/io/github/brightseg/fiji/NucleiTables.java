package io.github.brightseg.fiji;

import java.util.List;

import ij.measure.ResultsTable;

import io.github.brightseg.Columns;
import io.github.brightseg.Nucleus;
import io.github.brightseg.NucleiResult;

/**
 * Turns results into ImageJ tables, with the same columns as the CLI's CSV files: a per-object
 * table (Image, T, Z, then the object columns) and summary rows (Image, Channel, T, Z, Status,
 * Message, Harmony statistics, settings, model, backend). An image from a plate gets Plate, Well
 * and Field first, as {@code brightseg merge --naming} writes them.
 */
final class NucleiTables {
    private NucleiTables() {
    }

    /** Appends one row per nucleus of {@code r} to {@code table}; {@code plate} may be null. */
    static void addObjects(ResultsTable table, PlatePosition plate, String image, int t, int z,
            NucleiResult r) {
        List<String> columns = Columns.objects();
        for (Nucleus n : r.nuclei()) {
            table.incrementCounter();
            addPlate(table, plate);
            table.addValue("Image", image);
            table.addValue("T", t);
            table.addValue("Z", z);
            double[] values = n.values();
            for (int i = 0; i < columns.size(); i++) {
                table.addValue(columns.get(i), values[i]);
            }
        }
    }

    /** The Plate, Well and Field columns of a row, for an image from a plate. */
    private static void addPlate(ResultsTable table, PlatePosition plate) {
        if (plate != null) {
            table.addValue("Plate", plate.plate);
            table.addValue("Well", plate.well);
            table.addValue("Field", plate.field);
        }
    }

    /** The share of the plane's pixels inside an object, in percent. */
    static double coveredPercent(NucleiResult r) {
        int[] labels = r.labels();
        long inside = 0;
        for (int l : labels) {
            if (l != 0) {
                inside++;
            }
        }
        return 100.0 * inside / Math.max(1, labels.length);
    }

    /**
     * Appends the summary row of one plane to {@code table}; with {@code excluding}, the Message
     * says how many nuclei overlapping artifacts were dropped; with {@code coverage}, a last
     * column gives the share of the image covered (Find Artifacts); {@code plate} may be null.
     */
    static void addSummary(ResultsTable table, PlatePosition plate, String image, String channel,
            int t, int z, NucleiResult r, boolean excluding, boolean coverage) {
        List<String> lead = Columns.summaryLead();
        List<String> stats = Columns.statistics();
        List<String> tail = Columns.summaryTail();
        table.incrementCounter();
        addPlate(table, plate);
        table.addValue(lead.get(0), image);
        table.addValue(lead.get(1), channel);
        table.addValue(lead.get(2), t);
        table.addValue(lead.get(3), z);
        table.addValue(lead.get(4), "ok");
        List<String> messages = new java.util.ArrayList<>();
        if (!r.calibrated()) {
            messages.add(Columns.uncalibratedMessage());
        }
        if (excluding) {
            messages.add(r.excludedCount() + " nuclei overlapping artifacts excluded");
        }
        if (r.mayNotSuitImage()) {
            messages.add(Columns.poorFitMessage());
        }
        table.addValue(lead.get(5), String.join("; ", messages));
        double[] values = r.statistics().values();
        for (int i = 0; i < stats.size(); i++) {
            table.addValue(stats.get(i), values[i]);
        }
        table.addValue(tail.get(0), r.threshold());
        table.addValue(tail.get(1), r.minSizeUm2());
        table.addValue(tail.get(2), r.pixelWidthUm());
        table.addValue(tail.get(3), r.model());
        table.addValue(tail.get(4), r.backend());
        table.addValue(tail.get(5), r.uncertainPercent());
        if (coverage) {
            table.addValue(Population.COVERED_COLUMN, coveredPercent(r));
        }
    }
}
