package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;

/**
 * What a convolution kernel applies to each output value before storing it: {@code y = clamp(conv + residual, lo, hi)}.
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
        return clamp ? Math.min(Math.max(v, lo), hi) : v;
    }
}
