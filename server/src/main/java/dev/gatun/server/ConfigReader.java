package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Typed reads from a configuration object that refuse what they do not understand: an unknown key, a value of
 * the wrong kind or out of range is an {@link IllegalArgumentException} naming the file and the key path.
 */
final class ConfigReader {
    private final JsonNode node;
    private final String where;

    ConfigReader(JsonNode node, String where) {
        if (node != null && !node.isNull() && !node.isObject()) {
            throw new IllegalArgumentException(where + ": expected a JSON object");
        }
        this.node = node == null || node.isNull() ? Json.object() : node;
        this.where = where;
    }

    /** Refuses keys outside {@code known}. */
    ConfigReader only(String... known) {
        Set<String> k = Set.of(known);
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!k.contains(f)) {
                throw new IllegalArgumentException(where + ": unknown key '" + f + "' (known: " + String.join(", ", known) + ")");
            }
        }
        return this;
    }

    boolean has(String key) {
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    JsonNode raw(String key) {
        return node.get(key);
    }

    ConfigReader object(String key) {
        return new ConfigReader(node.get(key), where + "." + key);
    }

    String string(String key, String dflt) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(where + "." + key + ": expected a string");
        }
        return v.asText();
    }

    long number(String key, long dflt, long min, long max) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new IllegalArgumentException(where + "." + key + ": expected an integer");
        }
        long l = v.asLong();
        if (l < min || l > max) {
            throw new IllegalArgumentException(where + "." + key + ": " + l + " is outside [" + min + ", " + max + "]");
        }
        return l;
    }

    int integer(String key, int dflt, int min, int max) {
        return (int) number(key, dflt, min, max);
    }

    boolean bool(String key, boolean dflt) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(where + "." + key + ": expected true or false");
        }
        return v.asBoolean();
    }

    List<String> strings(String key) {
        JsonNode v = node.get(key);
        List<String> l = new ArrayList<>();
        if (v == null || v.isNull()) {
            return l;
        }
        if (!v.isArray()) {
            throw new IllegalArgumentException(where + "." + key + ": expected an array of strings");
        }
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new IllegalArgumentException(where + "." + key + ": expected an array of strings");
            }
            l.add(e.asText());
        }
        return l;
    }

    List<Long> longs(String key) {
        JsonNode v = node.get(key);
        List<Long> l = new ArrayList<>();
        if (v == null || v.isNull()) {
            return l;
        }
        if (!v.isArray()) {
            throw new IllegalArgumentException(where + "." + key + ": expected an array of integers");
        }
        for (JsonNode e : v) {
            if (!e.isIntegralNumber()) {
                throw new IllegalArgumentException(where + "." + key + ": expected an array of integers");
            }
            l.add(e.asLong());
        }
        return l;
    }

    String where() {
        return where;
    }
}
