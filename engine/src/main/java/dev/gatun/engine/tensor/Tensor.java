package dev.gatun.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A view of tensor data: a dtype, a concrete shape and the memory holding the elements in row-major order.
 * A tensor owns nothing: the memory belongs to an arena (a model's mapped weights, a session's workspace,
 * a {@code Result}, or the caller's arena), so a tensor is valid while that arena is open.
 *
 * <p>Host memory is read with unaligned little-endian layouts ({@link #F32} ...): weights mapped straight
 * from a model file may sit at any byte offset. Memory Gatun allocates is 64-byte aligned.
 * String tensors hold their values in a {@code String[]} instead of a segment.
 */
public final class Tensor {
    /** Layouts every kernel uses to read and write elements. */
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    public static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    public static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

    /** Alignment of memory Gatun allocates. */
    public static final long ALIGNMENT = 64;

    private final DType dtype;
    private final Shape shape;
    private final MemorySegment data;
    private final String[] strings;

    private Tensor(DType dtype, Shape shape, MemorySegment data, String[] strings) {
        this.dtype = dtype;
        this.shape = shape;
        this.data = data;
        this.strings = strings;
    }

    /**
     * A view of {@code data} as a tensor. The segment must hold at least {@code shape.size() * dtype.byteSize()}
     * bytes; it is sliced to exactly that.
     */
    public static Tensor of(DType dtype, Shape shape, MemorySegment data) {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        if (dtype == DType.STRING) {
            throw new IllegalArgumentException("string tensors hold String[]; use ofStrings");
        }
        long bytes = Math.multiplyExact(shape.size(), (long) dtype.byteSize());
        if (data.byteSize() < bytes) {
            throw new IllegalArgumentException("tensor " + dtype + shape + " needs " + bytes + " bytes, segment has " + data.byteSize());
        }
        return new Tensor(dtype, shape, data.byteSize() == bytes ? data : data.asSlice(0, bytes), null);
    }

    /** A string tensor. */
    public static Tensor ofStrings(Shape shape, String[] values) {
        if (values.length != shape.size()) {
            throw new IllegalArgumentException("string tensor " + shape + " needs " + shape.size() + " values, got " + values.length);
        }
        return new Tensor(DType.STRING, shape, MemorySegment.NULL, values);
    }

    /** A new zero-filled tensor in {@code arena}, 64-byte aligned. */
    public static Tensor allocate(Arena arena, DType dtype, Shape shape) {
        if (dtype == DType.STRING) {
            String[] s = new String[Math.toIntExact(shape.size())];
            java.util.Arrays.fill(s, "");
            return ofStrings(shape, s);
        }
        long bytes = Math.multiplyExact(shape.size(), (long) dtype.byteSize());
        return new Tensor(dtype, shape, arena.allocate(Math.max(bytes, 1), ALIGNMENT).asSlice(0, bytes), null);
    }

    /** A float tensor holding a copy of {@code values}. */
    public static Tensor ofFloats(Arena arena, float[] values, long... dims) {
        Tensor t = allocate(arena, DType.FLOAT, Shape.of(dims));
        checkCount(values.length, t);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** An int64 tensor holding a copy of {@code values}. */
    public static Tensor ofLongs(Arena arena, long[] values, long... dims) {
        Tensor t = allocate(arena, DType.INT64, Shape.of(dims));
        checkCount(values.length, t);
        MemorySegment.copy(values, 0, t.data, I64, 0, values.length);
        return t;
    }

    /** An int32 tensor holding a copy of {@code values}. */
    public static Tensor ofInts(Arena arena, int[] values, long... dims) {
        Tensor t = allocate(arena, DType.INT32, Shape.of(dims));
        checkCount(values.length, t);
        MemorySegment.copy(values, 0, t.data, I32, 0, values.length);
        return t;
    }

    private static void checkCount(int n, Tensor t) {
        if (n != t.size()) {
            throw new IllegalArgumentException("shape " + t.shape + " holds " + t.size() + " values, got " + n);
        }
    }

    public DType dtype() {
        return dtype;
    }

    public Shape shape() {
        return shape;
    }

    /** Number of elements. */
    public long size() {
        return shape.size();
    }

    /** Size in bytes of the data. */
    public long byteSize() {
        return dtype == DType.STRING ? 0 : data.byteSize();
    }

    /** The memory holding the elements (exactly {@link #byteSize()} bytes); {@code NULL} for strings. */
    public MemorySegment data() {
        return data;
    }

    /** The values of a string tensor. */
    public String[] strings() {
        if (strings == null) {
            throw new IllegalStateException("not a string tensor: " + dtype);
        }
        return strings;
    }

    /** The same data seen with another shape of the same element count (no copy; same segment instance). */
    public Tensor reshape(Shape newShape) {
        if (newShape.size() != shape.size()) {
            throw new IllegalArgumentException("cannot reshape " + shape + " to " + newShape);
        }
        return new Tensor(dtype, newShape, data, strings);
    }

    /** A deep copy into {@code arena}. */
    public Tensor copy(Arena arena) {
        if (dtype == DType.STRING) {
            return ofStrings(shape, strings.clone());
        }
        Tensor t = allocate(arena, dtype, shape);
        MemorySegment.copy(data, 0, t.data, 0, data.byteSize());
        return t;
    }

    public float getFloat(long i) {
        return data.getAtIndex(F32, i);
    }

    public long getLong(long i) {
        return data.getAtIndex(I64, i);
    }

    public int getInt(long i) {
        return data.getAtIndex(I32, i);
    }

    /** Element {@code i} converted to double, whatever the dtype (bool: 0/1; unsigned read as unsigned). */
    public double getDouble(long i) {
        return switch (dtype) {
            case FLOAT -> data.getAtIndex(F32, i);
            case DOUBLE -> data.getAtIndex(F64, i);
            case FLOAT16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case BFLOAT16 -> DType.bf16ToFloat(data.getAtIndex(I16, i));
            case UINT64 -> {
                long v = data.getAtIndex(I64, i);
                yield v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
            }
            default -> getAsLong(i);
        };
    }

    /** Element {@code i} converted to long, whatever the dtype (floats truncated toward zero). */
    public long getAsLong(long i) {
        return switch (dtype) {
            case INT64, UINT64 -> data.getAtIndex(I64, i);
            case INT32 -> data.getAtIndex(I32, i);
            case UINT32 -> Integer.toUnsignedLong(data.getAtIndex(I32, i));
            case INT16 -> data.getAtIndex(I16, i);
            case UINT16 -> Short.toUnsignedInt(data.getAtIndex(I16, i));
            case INT8, BOOL -> data.get(I8, i);
            case UINT8 -> Byte.toUnsignedInt(data.get(I8, i));
            case STRING -> throw new IllegalStateException("string tensor has no numeric value");
            default -> (long) getDouble(i);
        };
    }

    /** Sets element {@code i} from a double, converting to the dtype (integers truncated, bool = v != 0). */
    public void setDouble(long i, double v) {
        switch (dtype) {
            case FLOAT -> data.setAtIndex(F32, i, (float) v);
            case DOUBLE -> data.setAtIndex(F64, i, v);
            case FLOAT16 -> data.setAtIndex(I16, i, Float.floatToFloat16((float) v));
            case BFLOAT16 -> data.setAtIndex(I16, i, DType.floatToBf16((float) v));
            case BOOL -> data.set(I8, i, (byte) (v != 0 ? 1 : 0));
            default -> setLong(i, (long) v);
        }
    }

    /** Sets element {@code i} from a long, converting (wrapping) to the dtype. */
    public void setLong(long i, long v) {
        switch (dtype) {
            case INT64, UINT64 -> data.setAtIndex(I64, i, v);
            case INT32, UINT32 -> data.setAtIndex(I32, i, (int) v);
            case INT16, UINT16 -> data.setAtIndex(I16, i, (short) v);
            case INT8, UINT8 -> data.set(I8, i, (byte) v);
            case BOOL -> data.set(I8, i, (byte) (v != 0 ? 1 : 0));
            case STRING -> throw new IllegalStateException("string tensor has no numeric value");
            default -> setDouble(i, v);
        }
    }

    /** The elements as a float array (converted). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(size())];
        if (dtype == DType.FLOAT) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) getDouble(i);
            }
        }
        return out;
    }

    /** The elements as a long array (converted). */
    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(size())];
        for (int i = 0; i < out.length; i++) {
            out[i] = getAsLong(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return "tensor(" + dtype + ")" + shape;
    }
}
