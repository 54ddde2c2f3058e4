package dev.gatun.server.pipeline;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed reads of a pipeline's options, the {@code "pipeline"} object of a model's {@code config.json} as parsed
 * JSON ({@code Number}, {@code String}, {@code Boolean}, {@code List}). Every problem is an
 * {@link IllegalArgumentException} naming the option, so a bad configuration fails the model's load with a clear
 * message.
 */
final class PipelineOptions {
    private final String pipeline;
    private final Map<String, Object> options;

    /**
     * @param pipeline the pipeline type, for messages
     * @param known    the options the pipeline reads; {@code "type"} is always allowed, any other key is refused
     */
    PipelineOptions(String pipeline, Map<String, Object> options, Set<String> known) {
        this.pipeline = pipeline;
        this.options = options == null ? Map.of() : options;
        for (String k : this.options.keySet()) {
            if (!k.equals("type") && !known.contains(k)) {
                throw new IllegalArgumentException(pipeline + " pipeline: unknown option '" + k + "'; its options are "
                        + known.stream().sorted().toList());
            }
        }
    }

    boolean has(String key) {
        return options.get(key) != null;
    }

    int getInt(String key, int dflt, int min, int max) {
        Object v = options.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw bad(key, "must be an integer, got " + v);
        }
        double d = n.doubleValue();
        if (d < min || d > max) {
            throw bad(key, "must be in [" + min + ", " + max + "], got " + v);
        }
        return (int) d;
    }

    boolean getBoolean(String key, boolean dflt) {
        Object v = options.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Boolean b)) {
            throw bad(key, "must be true or false, got " + v);
        }
        return b;
    }

    long getLong(String key, long dflt, long min, long max) {
        Object v = options.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw bad(key, "must be an integer, got " + v);
        }
        long l = n instanceof Double ? (long) n.doubleValue() : n.longValue();
        if (l < min || l > max) {
            throw bad(key, "must be in [" + min + ", " + max + "], got " + v);
        }
        return l;
    }

    String getString(String key, String dflt) {
        Object v = options.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof String s) || s.isEmpty()) {
            throw bad(key, "must be a non-empty string, got " + v);
        }
        return s;
    }

    /**
     * A file inside the model's folder {@code dir}, named relative to it; null when absent and {@code dflt} is null.
     * Absolute names, names that climb out ({@code ..}) and symlinks that resolve outside the folder are refused.
     */
    Path getPath(String key, Path dir, String dflt) {
        String s = getString(key, dflt);
        if (s == null) {
            return null;
        }
        Path p;
        try {
            p = Path.of(s);
        } catch (java.nio.file.InvalidPathException e) {
            throw bad(key, "'" + s + "' is not a valid file name");
        }
        if (dir == null) {
            return p;
        }
        if (p.isAbsolute() || s.startsWith("/") || s.startsWith("\\")) {
            throw bad(key, "'" + s + "' is absolute; pipeline files are named relative to the model's folder");
        }
        Path base = dir.toAbsolutePath().normalize();
        Path target = base.resolve(p).normalize();
        if (!target.startsWith(base)) {
            throw bad(key, "'" + s + "' escapes the model's folder");
        }
        try {
            if (!target.toRealPath().startsWith(base.toRealPath())) {
                throw bad(key, "'" + s + "' resolves (through a symlink) outside the model's folder");
            }
        } catch (java.io.IOException e) {
            // a missing or unreadable file is reported by the pipeline that reads it, with its own message
        }
        return target;
    }

    /** Exactly {@code n} finite numbers. */
    float[] getFloats(String key, float[] dflt, int n) {
        Object v = options.get(key);
        if (v == null) {
            return dflt.clone();
        }
        if (!(v instanceof List<?> l) || l.size() != n) {
            throw bad(key, "must be a list of " + n + " numbers, got " + v);
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            if (!(l.get(i) instanceof Number x) || !Double.isFinite(x.doubleValue())) {
                throw bad(key, "must be a list of " + n + " numbers, got " + v);
            }
            out[i] = x.floatValue();
        }
        return out;
    }

    private IllegalArgumentException bad(String key, String what) {
        return new IllegalArgumentException(pipeline + " pipeline: option '" + key + "' " + what);
    }
}
