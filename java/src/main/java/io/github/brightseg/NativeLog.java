package io.github.brightseg;

import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Log lines from the native code. They are collected after each native call (and during long
 * calls, with each progress report) and handed to the {@linkplain #setSink sink}: by default
 * {@code java.util.logging} under the logger {@code io.github.brightseg}; the Fiji plugin sends
 * them to the ImageJ log.
 */
public final class NativeLog {
    /** Receives native log lines. Called on the thread that made the native call. */
    @FunctionalInterface
    public interface Sink {
        /** One line: level is ERROR, WARN, INFO, DEBUG or TRACE. */
        void log(String level, String message);
    }

    private static final Logger LOGGER = Logger.getLogger("io.github.brightseg");
    private static final Sink DEFAULT = (level, message) -> LOGGER.log(toJul(level), message);
    private static volatile Sink sink = DEFAULT;

    private NativeLog() {
    }

    /** Sends native log lines to {@code sink} (null: back to java.util.logging). */
    public static void setSink(Sink sink) {
        NativeLog.sink = sink == null ? DEFAULT : sink;
    }

    static Level toJul(String level) {
        switch (level) {
            case "ERROR":
                return Level.SEVERE;
            case "WARN":
                return Level.WARNING;
            case "INFO":
                return Level.INFO;
            case "DEBUG":
                return Level.FINE;
            default:
                return Level.FINER;
        }
    }

    /** Forwards whatever the native side has queued. */
    static void drain() {
        String text = NativeLib.drainLog();
        if (text == null || text.isEmpty()) {
            return;
        }
        Sink target = sink;
        for (String record : text.split("\u001e")) {
            int sep = record.indexOf('\u001f');
            String level = sep < 0 ? "INFO" : record.substring(0, sep);
            String message = sep < 0 ? record : record.substring(sep + 1);
            try {
                target.log(level, message);
            } catch (RuntimeException e) {
                LOGGER.log(Level.WARNING, "log sink failed; message was: " + message, e);
            }
        }
    }
}
