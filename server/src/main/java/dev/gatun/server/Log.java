package dev.gatun.server;

import java.io.PrintStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** The server's operational log: one line per event on stderr ({@code 2025-01-01T00:00:00Z gatun LEVEL message}). */
final class Log {
    private static volatile PrintStream out = System.err;

    private Log() {}

    static void info(String message) {
        line("INFO", message);
    }

    static void warn(String message) {
        line("WARN", message);
    }

    static void error(String message, Throwable t) {
        line("ERROR", message);
        if (t != null) {
            synchronized (Log.class) {
                t.printStackTrace(out);
            }
        }
    }

    private static void line(String level, String message) {
        String s = Instant.now().truncatedTo(ChronoUnit.MILLIS) + " gatun " + level + " " + message;
        synchronized (Log.class) {
            out.println(s);
        }
    }
}
