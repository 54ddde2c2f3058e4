package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;

/**
 * What a convolution kernel applies to each output value before storing it: {@code y = clamp(conv + residual, lo, hi)}
 * ({@link #clamp(float, float, float)}: NaN stays NaN, -0 stays -0).
 *
 * @param residual float32 tensor data of the output's shape added to the output, or null
 * @param clamp    whether to clamp (an activation: Relu is [0, +inf), ReLU6 [0, 6]); NaN stays NaN
 * @param lo       lower bound when clamping
 * @param hi       upper bound when clamping
 */
public record ConvEpilogue(MemorySegment residual, boolean clamp, float lo, float hi) {
    /** Store the convolution as it is. */
    public static final ConvEpilogue NONE = new ConvEpilogue(null, false, 0f, 0f);

    /** The same activation with {@code residual} added first. */
    public ConvEpilogue withResidual(MemorySegment r) {
        return new ConvEpilogue(r, clamp, lo, hi);
    }

    /** A clamp to [lo, hi] with no residual. */
    public static ConvEpilogue clamp(float lo, float hi) {
        return new ConvEpilogue(null, true, lo, hi);
    }

    boolean isNone() {
        return residual == null && !clamp;
    }

    /** The epilogue applied to one value (the scalar twin of the vector stores). */
    public float apply(float v, float residualValue) {
        if (residual != null) {
            v += residualValue;
        }
        return clamp ? clamp(v, lo, hi) : v;
    }

    /**
     * {@code v < lo ? lo : v > hi ? hi : v}: NaN stays NaN and -0 stays -0 (Math.max(-0, 0) would give +0). The
     * scalar twin of the convolution stores' vector clamp, written inline at each store as a compare and a blend each
     * way ({@code v.blend(lo, v.compare(LT, lo))}, then likewise with GT and hi): FloatVector's max / min keep Math's
     * NaN and signed-zero rules at six AVX-512 instructions each (ResNet-18's ReLU layers on ConvDirect, one thread,
     * CPU time: 0-2.5% less a layer). Inline, not a helper method: a helper C2 did not inline at a call site its
     * profile had not reached took and returned boxed vectors (1.5 MB of heap a ResNet-18 run under lowered JIT
     * thresholds).
     */
    public static float clamp(float v, float lo, float hi) {
        float t = v < lo ? lo : v;
        return t > hi ? hi : t;
    }
}
