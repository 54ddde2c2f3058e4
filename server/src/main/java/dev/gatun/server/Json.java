package dev.gatun.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one JSON setup of the server: Jackson's streaming parser and generator, and its tree model
 * ({@link JsonNode}) for small documents (configuration, metadata). Request content is never bound to classes.
 * The parser is strict: no NaN/Infinity literals, no comments, no trailing tokens; nesting is limited.
 */
public final class Json {
    /** Deepest nesting a request may use: tensors of rank 32 and a few levels of envelope. */
    public static final int MAX_DEPTH = 48;

    public static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH)
                    .maxNumberLength(400).maxStringLength(Integer.MAX_VALUE).build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    public static final ObjectMapper MAPPER = new ObjectMapper(FACTORY);

    private Json() {}

    /**
     * A parser over {@code bytes[offset, offset+length)}. Jackson detects the encoding (UTF-8, -16, -32) from the
     * first bytes; bytes it cannot make sense of are a 400, like any other malformed JSON.
     */
    public static JsonParser parser(byte[] bytes, int offset, int length) {
        try {
            return FACTORY.createParser(bytes, offset, length);
        } catch (IOException e) {
            throw malformed(e);
        }
    }

    /** Parses a whole small document into a tree; a syntax error is a 400 naming the position. */
    public static JsonNode tree(byte[] bytes, int offset, int length) {
        try (JsonParser p = parser(bytes, offset, length)) {
            JsonNode n = MAPPER.readTree(p);
            if (n == null) {
                throw HttpError.badRequest("malformed JSON: the body is empty");
            }
            if (p.nextToken() != null) {
                throw HttpError.badRequest("malformed JSON: unexpected content after the document at " + where(p));
            }
            return n;
        } catch (IOException e) {
            throw malformed(e);
        }
    }

    /** Reads a JSON file (configuration) into a tree. */
    public static JsonNode readFile(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        try (JsonParser p = FACTORY.createParser(b, 0, b.length)) {
            JsonNode n = MAPPER.readTree(p);
            if (n == null) {
                throw new IOException(file + ": empty file");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + ": invalid JSON: " + e.getOriginalMessage(), e);
        } catch (java.io.CharConversionException e) {
            throw new IOException(file + ": invalid JSON: " + e.getMessage(), e);
        }
    }

    /** A 400 for a parse failure, with Jackson's description and the position. */
    public static HttpError malformed(IOException e) {
        if (e instanceof StreamConstraintsException c) {
            return HttpError.badRequest("malformed JSON: " + c.getOriginalMessage());
        }
        if (e instanceof com.fasterxml.jackson.core.JacksonException j) {
            String loc = j.getLocation() == null ? "" : " at line " + j.getLocation().getLineNr() + ", column "
                    + j.getLocation().getColumnNr();
            return HttpError.badRequest("malformed JSON: " + firstLine(j.getOriginalMessage()) + loc);
        }
        return HttpError.badRequest("malformed JSON: " + e.getMessage());
    }

    static String where(JsonParser p) {
        var l = p.currentLocation();
        return "line " + l.getLineNr() + ", column " + l.getColumnNr();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "invalid content";
        }
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    /** A generator writing into {@code out}. */
    public static JsonGenerator generator(ByteArrayOutputStream out) {
        try {
            return FACTORY.createGenerator(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code {"error": message}} as bytes. */
    public static byte[] error(String message) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("error", message);
        return bytes(n);
    }

    /** A tree as UTF-8 bytes. */
    public static byte[] bytes(JsonNode n) {
        try {
            return MAPPER.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }
}
