package dev.gatun.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

/**
 * Streams a JSON tensor value (a number, or arrays nested to any depth) straight into little-endian element
 * bytes of a known dtype, without building a tree: {@code [[1,2],[3,4]]} gives shape [2,2] and four elements.
 * Every element is checked against the dtype: floats need numbers, integers need integral numbers in range,
 * bool takes true/false (or 0/1), BYTES takes strings. Float32 values are parsed directly as floats, so the
 * shortest decimal a float prints as reads back to the same bits.
 */
public final class JsonData {
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);

    /** What a JSON value held: the elements and the shape its nesting implies. */
    public record Flat(long[] shape, byte[] data, List<byte[]> bytes, long count) {}

    private final DType dtype;
    private final String name;
    private final long maxElements;
    private final boolean base64Bytes;
    private byte[] buf;
    private MemorySegment seg;
    private List<byte[]> bytes;
    private long count;

    private JsonData(DType dtype, String name, long maxElements, boolean base64Bytes) {
        this.dtype = dtype;
        this.name = name;
        this.maxElements = maxElements;
        this.base64Bytes = base64Bytes;
        if (dtype == DType.STRING) {
            bytes = new ArrayList<>();
        } else {
            buf = new byte[64];
            seg = MemorySegment.ofArray(buf);
        }
    }

    /**
     * Reads the value at the parser's current token (a scalar or START_ARRAY) and leaves the parser on its
     * last token.
     *
     * @param base64Bytes BYTES strings are base64 (decoded), else UTF-8 text
     * @throws HttpError 400 for ragged arrays, wrong element kinds, out-of-range values; 413 past {@code maxElements}
     */
    public static Flat read(JsonParser p, DType dtype, String name, long maxElements, boolean base64Bytes) throws IOException {
        JsonData d = new JsonData(dtype, name, maxElements, base64Bytes);
        long[] shape = d.readValue(p);
        byte[] data = null;
        if (dtype != DType.STRING) {
            long n = d.count * dtype.byteSize();
            data = d.buf.length == n ? d.buf : Arrays.copyOf(d.buf, (int) n);
        }
        return new Flat(shape, data, d.bytes, d.count);
    }

    private long[] readValue(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t != JsonToken.START_ARRAY) {
            element(p, t);
            return new long[0];
        }
        long[] dims = new long[Json.MAX_DEPTH];
        boolean[] known = new boolean[Json.MAX_DEPTH];
        long[] counts = new long[Json.MAX_DEPTH];
        int leaf = -1;
        int depth = 0;
        counts[0] = 0;
        while (true) {
            t = p.nextToken();
            if (t == null) {
                throw HttpError.badRequest("malformed JSON: the body ends inside the data of '" + name + "'");
            }
            if (t == JsonToken.END_ARRAY) {
                if (known[depth] && dims[depth] != counts[depth]) {
                    throw ragged();
                }
                if (leaf < 0 && counts[depth] == 0) {
                    leaf = depth + 1;
                }
                dims[depth] = counts[depth];
                known[depth] = true;
                if (depth == 0) {
                    break;
                }
                depth--;
                counts[depth]++;
            } else if (t == JsonToken.START_ARRAY) {
                if (leaf >= 0 && depth + 1 >= leaf) {
                    throw ragged();
                }
                if (known[depth] && counts[depth] >= dims[depth]) {
                    throw ragged();
                }
                depth++;
                if (depth >= dims.length) {
                    throw HttpError.badRequest("data of '" + name + "' is nested too deeply");
                }
                counts[depth] = 0;
            } else {
                if (leaf < 0) {
                    leaf = depth + 1;
                } else if (leaf != depth + 1) {
                    throw ragged();
                }
                if (known[depth] && counts[depth] >= dims[depth]) {
                    throw ragged();
                }
                element(p, t);
                counts[depth]++;
            }
        }
        return Arrays.copyOf(dims, leaf);
    }

    private HttpError ragged() {
        return HttpError.badRequest("data of '" + name + "' is not a regular nested array (rows of different lengths,"
                + " or values and arrays mixed at one level)");
    }

    private void element(JsonParser p, JsonToken t) throws IOException {
        long i = count;
        if (i >= maxElements) {
            throw new HttpError(413, "data of '" + name + "' has more than " + maxElements
                    + " elements, the limit per tensor");
        }
        if (dtype == DType.STRING) {
            if (t != JsonToken.VALUE_STRING) {
                throw wrong(p, t, "a string");
            }
            String s = p.getText();
            if (base64Bytes) {
                try {
                    bytes.add(Base64.getDecoder().decode(s));
                } catch (IllegalArgumentException e) {
                    throw HttpError.badRequest("data of '" + name + "': element " + i + " is not valid base64 ("
                            + e.getMessage() + ")");
                }
            } else {
                bytes.add(s.getBytes(StandardCharsets.UTF_8));
            }
            count++;
            return;
        }
        long end = (i + 1) * dtype.byteSize();
        if (end > buf.length) {
            buf = Arrays.copyOf(buf, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(end, buf.length * 2L)));
            if (end > buf.length) {
                throw new HttpError(413, "data of '" + name + "' is too large");
            }
            seg = MemorySegment.ofArray(buf);
        }
        switch (dtype) {
            case FLOAT -> seg.setAtIndex(Tensor.F32, i, number(p, t).getFloatValue());
            case DOUBLE -> seg.setAtIndex(Tensor.F64, i, number(p, t).getDoubleValue());
            case FLOAT16 -> seg.setAtIndex(Tensor.I16, i, Float.floatToFloat16(number(p, t).getFloatValue()));
            case BFLOAT16 -> seg.setAtIndex(Tensor.I16, i, DType.floatToBf16(number(p, t).getFloatValue()));
            case BOOL -> {
                byte b;
                if (t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) {
                    b = (byte) (t == JsonToken.VALUE_TRUE ? 1 : 0);
                } else {
                    long v = integer(p, t, 0, 1);
                    b = (byte) v;
                }
                seg.set(Tensor.I8, i, b);
            }
            case INT8 -> seg.set(Tensor.I8, i, (byte) integer(p, t, Byte.MIN_VALUE, Byte.MAX_VALUE));
            case UINT8 -> seg.set(Tensor.I8, i, (byte) integer(p, t, 0, 255));
            case INT16 -> seg.setAtIndex(Tensor.I16, i, (short) integer(p, t, Short.MIN_VALUE, Short.MAX_VALUE));
            case UINT16 -> seg.setAtIndex(Tensor.I16, i, (short) integer(p, t, 0, 65535));
            case INT32 -> seg.setAtIndex(Tensor.I32, i, (int) integer(p, t, Integer.MIN_VALUE, Integer.MAX_VALUE));
            case UINT32 -> seg.setAtIndex(Tensor.I32, i, (int) integer(p, t, 0, 0xffffffffL));
            case INT64 -> seg.setAtIndex(Tensor.I64, i, integer(p, t, Long.MIN_VALUE, Long.MAX_VALUE));
            case UINT64 -> seg.setAtIndex(Tensor.I64, i, unsigned64(p, t));
            default -> throw HttpError.badRequest("input '" + name + "': datatype " + Datatypes.v2(dtype)
                    + " is not supported in JSON");
        }
        count++;
    }

    private JsonParser number(JsonParser p, JsonToken t) {
        if (t != JsonToken.VALUE_NUMBER_INT && t != JsonToken.VALUE_NUMBER_FLOAT) {
            throw wrong(p, t, "a number");
        }
        return p;
    }

    private long integer(JsonParser p, JsonToken t, long min, long max) throws IOException {
        if (t != JsonToken.VALUE_NUMBER_INT) {
            throw wrong(p, t, "an integer");
        }
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
            throw outOfRange(p.getText());
        }
        long v = p.getLongValue();
        if (v < min || v > max) {
            throw outOfRange(Long.toString(v));
        }
        return v;
    }

    private long unsigned64(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.VALUE_NUMBER_INT) {
            throw wrong(p, t, "an integer");
        }
        BigInteger v = p.getBigIntegerValue();
        if (v.signum() < 0 || v.compareTo(TWO_64) >= 0) {
            throw outOfRange(v.toString());
        }
        return v.longValue();
    }

    private HttpError outOfRange(String v) {
        return HttpError.badRequest("data of '" + name + "': value " + v + " at element " + count + " is out of range for "
                + Datatypes.v2(dtype));
    }

    private HttpError wrong(JsonParser p, JsonToken t, String expected) {
        String got = switch (t) {
            case VALUE_STRING -> "the string \"" + abbreviate(textOf(p)) + "\"";
            case VALUE_NUMBER_FLOAT -> "the number " + textOf(p);
            case VALUE_NUMBER_INT -> "the integer " + textOf(p);
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            case START_OBJECT -> "an object";
            default -> t.asString() == null ? t.name() : t.asString();
        };
        return HttpError.badRequest("data of '" + name + "': element " + count + " is " + got + ", expected " + expected
                + " for datatype " + Datatypes.v2(dtype));
    }

    private static String textOf(JsonParser p) {
        try {
            return p.getText();
        } catch (IOException e) {
            return "?";
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }
}
