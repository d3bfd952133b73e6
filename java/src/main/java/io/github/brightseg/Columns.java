package io.github.brightseg;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Column names of brightseg's tables, from the native core so that Fiji's tables and the CLI's
 * CSV files always agree. A summary table is {@link #summaryLead()}, {@link #statistics()},
 * {@link #summaryTail()}.
 */
public final class Columns {
    private Columns() {
    }

    private static List<String> list(int which) {
        String joined = NativeLib.call(() -> NativeLib.columns(which));
        return Collections.unmodifiableList(Arrays.asList(joined.split("\t", -1)));
    }

    /** Per-object table: Object, Area [µm²], X [µm], … in {@link Nucleus#values()} order. */
    public static List<String> objects() {
        return list(0);
    }

    /** Harmony statistics, in {@link PopulationStatistics#values()} order. */
    public static List<String> statistics() {
        return list(1);
    }

    /** Summary columns before the statistics: Image, Channel, T, Z, Status, Message. */
    public static List<String> summaryLead() {
        return list(2);
    }

    /**
     * Summary columns after the statistics: Threshold, Minimum Size [µm²], …, Backend, Uncertain
     * Pixels [%].
     */
    public static List<String> summaryTail() {
        return list(3);
    }

    /** The Message of a summary row for an image without calibration. */
    public static String uncalibratedMessage() {
        return list(4).get(0);
    }

    /**
     * The Message of a summary row whose image the model may not suit
     * ({@link NucleiResult#mayNotSuitImage()}).
     */
    public static String poorFitMessage() {
        return list(5).get(0);
    }
}
