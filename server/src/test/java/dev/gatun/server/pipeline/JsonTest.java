package dev.gatun.server.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void values() {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("a", 1L);
        expected.put("b", List.of(1.5, -2e3, true, false, "x"));
        expected.put("c", null);
        expected.put("d", Map.of("e", "\u00e9\n\"\\/\uD83D\uDE01"));
        Object v = Json.parse(" {\"a\": 1, \"b\": [1.5, -2e3, true, false, \"x\"], \"c\": null,"
                + " \"d\": {\"e\": \"\\u00e9\\n\\\"\\\\\\/\\ud83d\\ude01\"}} ");
        assertEquals(expected, v);
        assertEquals(List.of("a", "b", "c", "d"), List.copyOf(((Map<?, ?>) v).keySet()));
        assertEquals(12345678901234567890.0, Json.parse("12345678901234567890"));
        assertEquals(-0L, Json.parse("-0"));
        assertNull(Json.parse("null"));
        assertEquals(List.of(), Json.parse("[]"));
        assertEquals(Map.of(), Json.parse("{ }"));
        assertEquals("é", Json.parse("\"é\""));
    }

    @Test
    void malformedInputIsRefusedWithTheOffset() {
        for (String bad : List.of("", "{", "[1,]", "{\"a\" 1}", "01", "1.", "1e", "\"abc", "\"\\x\"", "\"\\u12\"", "tru",
                "{} x", "[1 2]", "{1: 2}", "\"a\nb\"", "-", "+1", "NaN")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertEquals(true, e.getMessage().startsWith("malformed JSON at offset"), e.getMessage());
        }
        char[] deep = new char[Json.MAX_DEPTH + 2];
        Arrays.fill(deep, '[');
        assertThrows(IllegalArgumentException.class, () -> Json.parse(new String(deep)));
    }
}
