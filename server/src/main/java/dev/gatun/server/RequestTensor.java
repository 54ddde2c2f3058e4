package dev.gatun.server;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * One tensor as a client sent it, decoded and checked against its declared shape but not yet against a model:
 * numeric data as little-endian bytes on the heap, BYTES elements as byte arrays.
 *
 * @param name  the tensor's name in the request
 * @param dtype element type ({@link DType#STRING} for BYTES)
 * @param shape concrete dims
 * @param data  {@code elements * dtype.byteSize()} bytes, row-major (null for BYTES)
 * @param bytes the BYTES elements (null otherwise)
 */
public record RequestTensor(String name, DType dtype, long[] shape, byte[] data, List<byte[]> bytes) {
    /** Number of elements. */
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The engine tensor viewing this data (BYTES become strings, which must be valid UTF-8). */
    public Tensor toTensor() {
        if (dtype == DType.STRING) {
            return Tensor.ofStrings(Shape.of(shape), strings(bytes, name));
        }
        return Tensor.of(dtype, Shape.of(shape), MemorySegment.ofArray(data));
    }

    /** BYTES elements as strings; invalid UTF-8 is a 400 naming the element. */
    public static String[] strings(List<byte[]> bytes, String name) {
        String[] s = new String[bytes.size()];
        var dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        for (int i = 0; i < s.length; i++) {
            try {
                s[i] = dec.decode(ByteBuffer.wrap(bytes.get(i))).toString();
            } catch (CharacterCodingException e) {
                throw HttpError.badRequest("input '" + name + "': element " + i + " is not valid UTF-8 text");
            }
        }
        return s;
    }

    /** The product of {@code shape}, or a 400 when it overflows or exceeds {@code maxElements}. */
    public static long checkedSize(long[] shape, long maxElements, String name) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw HttpError.badRequest("input '" + name + "': shape " + Arrays.toString(shape) + " has a negative dimension");
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw HttpError.badRequest("input '" + name + "': shape " + Arrays.toString(shape) + " is too large");
            }
        }
        if (n > maxElements) {
            throw new HttpError(413, "input '" + name + "': shape " + Arrays.toString(shape) + " has " + n
                    + " elements, over the limit of " + maxElements + " elements per tensor");
        }
        return n;
    }
}
