package dev.gatun.server;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes tensor elements: as JSON numbers (flat, or nested by shape), or as the v2 binary extension's raw bytes
 * (little-endian elements; BOOL one byte; BYTES each a 4-byte little-endian length and the bytes). Float32
 * values print as the shortest decimal that reads back to the same float; NaN and infinities, which JSON lacks,
 * print as the strings {@code "NaN"}, {@code "Infinity"}, {@code "-Infinity"} (the binary format keeps them).
 */
final class TensorJson {
    private TensorJson() {}

    /** The elements as one flat JSON array. */
    static void writeFlat(JsonGenerator g, Tensor t) throws IOException {
        g.writeStartArray();
        long n = t.size();
        for (long i = 0; i < n; i++) {
            writeElement(g, t, i);
        }
        g.writeEndArray();
    }

    /** The elements as arrays nested by the shape (a scalar for rank 0). */
    static void writeNested(JsonGenerator g, Tensor t) throws IOException {
        long[] dims = t.shape().dims();
        if (dims.length == 0) {
            writeElement(g, t, 0);
            return;
        }
        nested(g, t, dims, 0, 0);
    }

    private static long nested(JsonGenerator g, Tensor t, long[] dims, int d, long index) throws IOException {
        g.writeStartArray();
        if (d == dims.length - 1) {
            for (long i = 0; i < dims[d]; i++) {
                writeElement(g, t, index++);
            }
        } else {
            for (long i = 0; i < dims[d]; i++) {
                index = nested(g, t, dims, d + 1, index);
            }
        }
        g.writeEndArray();
        return index;
    }

    private static void writeElement(JsonGenerator g, Tensor t, long i) throws IOException {
        MemorySegment s = t.data();
        switch (t.dtype()) {
            case FLOAT -> g.writeNumber(s.getAtIndex(Tensor.F32, i));
            case DOUBLE -> g.writeNumber(s.getAtIndex(Tensor.F64, i));
            case FLOAT16, BFLOAT16 -> g.writeNumber((float) t.getDouble(i));
            case BOOL -> g.writeBoolean(s.get(Tensor.I8, i) != 0);
            case UINT64 -> g.writeNumber(Long.toUnsignedString(s.getAtIndex(Tensor.I64, i)));
            case STRING -> g.writeString(t.strings()[(int) i]);
            default -> g.writeNumber(t.getAsLong(i));
        }
    }

    /** Size in bytes of the binary form. */
    static long binarySize(Tensor t) {
        if (t.dtype() != DType.STRING) {
            return t.byteSize();
        }
        long n = 0;
        for (String s : t.strings()) {
            n += 4 + s.getBytes(StandardCharsets.UTF_8).length;
        }
        return n;
    }

    /** Appends the binary form of {@code t} to {@code out}. */
    static void writeBinary(ByteArrayOutputStream out, Tensor t) {
        if (t.dtype() == DType.STRING) {
            ByteBuffer len = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            for (String s : t.strings()) {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                len.clear();
                len.putInt(b.length);
                out.write(len.array(), 0, 4);
                out.write(b, 0, b.length);
            }
            return;
        }
        byte[] b = t.data().toArray(ValueLayout.JAVA_BYTE);
        if (t.dtype() == DType.BOOL) {
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) (b[i] != 0 ? 1 : 0);
            }
        }
        out.write(b, 0, b.length);
    }
}
