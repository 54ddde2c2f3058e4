package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Bulk conversion between a run of tensor elements and a {@code double[]}, for the generic (non-float32) paths of
 * kernels: the dtype is switched on once per run of elements, not per element.
 */
final class DoubleBuffers {
    private DoubleBuffers() {}

    /** Reads elements {@code [from, from + len)} of {@code t} into {@code dst[0, len)} as doubles. */
    static void read(Tensor t, long from, double[] dst, int len) {
        MemorySegment s = t.data();
        switch (t.dtype()) {
            case FLOAT -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = s.getAtIndex(Tensor.F32, from + i);
                }
            }
            case DOUBLE -> MemorySegment.copy(s, Tensor.F64, from * 8, dst, 0, len);
            case FLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = Float.float16ToFloat(s.getAtIndex(Tensor.I16, from + i));
                }
            }
            case BFLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = DType.bf16ToFloat(s.getAtIndex(Tensor.I16, from + i));
                }
            }
            case INT8 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = s.get(Tensor.I8, from + i);
                }
            }
            case UINT8 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = Byte.toUnsignedInt(s.get(Tensor.I8, from + i));
                }
            }
            default -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = t.getDouble(from + i);
                }
            }
        }
    }

    /**
     * Writes {@code src[0, len)} into elements {@code [from, from + len)} of {@code t}. Integer types get the value
     * rounded to nearest (ties to even) and saturated to the type's range; NaN becomes 0.
     */
    static void write(Tensor t, long from, double[] src, int len) {
        MemorySegment s = t.data();
        switch (t.dtype()) {
            case FLOAT -> {
                for (int i = 0; i < len; i++) {
                    s.setAtIndex(Tensor.F32, from + i, (float) src[i]);
                }
            }
            case DOUBLE -> MemorySegment.copy(src, 0, s, Tensor.F64, from * 8, len);
            case FLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    s.setAtIndex(Tensor.I16, from + i, Float.floatToFloat16((float) src[i]));
                }
            }
            case BFLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    s.setAtIndex(Tensor.I16, from + i, DType.floatToBf16((float) src[i]));
                }
            }
            case BOOL -> {
                for (int i = 0; i < len; i++) {
                    s.set(Tensor.I8, from + i, (byte) (src[i] != 0 ? 1 : 0));
                }
            }
            default -> {
                double lo = minOf(t.dtype());
                double hi = maxOf(t.dtype());
                for (int i = 0; i < len; i++) {
                    double v = Math.rint(src[i]);
                    v = Double.isNaN(v) ? 0 : Math.min(hi, Math.max(lo, v));
                    if (t.dtype() == DType.UINT64 && v >= 0x1p63) {
                        t.setLong(from + i, (long) (v - 0x1p63) ^ Long.MIN_VALUE);
                    } else {
                        t.setLong(from + i, (long) v);
                    }
                }
            }
        }
    }

    /** The smallest value of an integer type. */
    static double minOf(DType t) {
        return switch (t) {
            case INT8 -> Byte.MIN_VALUE;
            case INT16 -> Short.MIN_VALUE;
            case INT32 -> Integer.MIN_VALUE;
            case INT64 -> Long.MIN_VALUE;
            default -> 0;
        };
    }

    /** The largest value of an integer type. */
    static double maxOf(DType t) {
        return switch (t) {
            case INT8 -> Byte.MAX_VALUE;
            case UINT8 -> 255;
            case INT16 -> Short.MAX_VALUE;
            case UINT16 -> 65535;
            case INT32 -> Integer.MAX_VALUE;
            case UINT32 -> 4294967295.0;
            case INT64 -> Long.MAX_VALUE;
            default -> 0x1p64 - 2048;
        };
    }
}
