package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * What a GEMM does to each output element after the product: {@code y = act(acc + bias) + residual}, where
 * {@code acc} is {@code alpha * op(A) x op(B) + beta * C}.
 *
 * <ul>
 *   <li>bias: one value per output column {@code bias[biasOffset + j]} ({@link #withBias}, a MatMul/Gemm bias of
 *       shape [N]), or per output row {@code bias[biasOffset + i]} ({@link #withRowBias}, a Conv bias with the
 *       output channels as GEMM rows);</li>
 *   <li>activation: Relu, LeakyRelu (slope {@code p}), Clip to [{@code p}, {@code q}], Gelu (erf) or GeluTanh;</li>
 *   <li>residual: {@code residual[residualOffset + i * residualStride + j]} added last ({@link #withResidual}).</li>
 * </ul>
 * Indices i, j are the output's row and column in the GEMM call (offsets and strides count floats).
 *
 * <p>Use: {@code Sgemm.sgemm(ctx, false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, y, 0, n,
 * Epilogue.of(Activation.GELU).withBias(bias, 0))}, or with a {@link PackedB}; the GEMM applies it to each output
 * tile right after its last K block, while the tile is in cache. Code that computes outputs some other way applies
 * the same math with {@link #apply} (vectorised, the same lane arithmetic as inside the GEMM, so both give equal
 * bits) and tests compare against {@link #reference}, the scalar twin computed in double.
 *
 * <p>Every lane runs the same instructions (tails use masked vectors, never scalar code), so an element's result
 * does not depend on its column's position.
 */
public record Epilogue(Activation activation, float p, float q, MemorySegment bias, long biasOffset, boolean biasPerRow,
                       MemorySegment residual, long residualOffset, long residualStride) {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** The activation applied after the bias. */
    public enum Activation {
        NONE, RELU, LEAKY_RELU, CLIP, GELU, GELU_TANH;

        /** Whether it is cheap enough to run inline in the GEMM's tile store (else a pass over the stored row). */
        boolean light() {
            return this != GELU && this != GELU_TANH;
        }
    }

    /** No bias, no activation, no residual. */
    public static final Epilogue NONE = new Epilogue(Activation.NONE, 0f, 0f, null, 0, false, null, 0, 0);

    /** Just an activation (NONE, RELU, GELU, GELU_TANH; use {@link #clip} and {@link #leakyRelu} for the others). */
    public static Epilogue of(Activation activation) {
        return new Epilogue(activation, 0f, 0f, null, 0, false, null, 0, 0);
    }

    /** Clip to [lo, hi]. */
    public static Epilogue clip(float lo, float hi) {
        return new Epilogue(Activation.CLIP, lo, hi, null, 0, false, null, 0, 0);
    }

    /** LeakyRelu: x for x >= 0, alpha * x below. */
    public static Epilogue leakyRelu(float alpha) {
        return new Epilogue(Activation.LEAKY_RELU, alpha, 0f, null, 0, false, null, 0, 0);
    }

    /** This epilogue adding {@code bias[offset + j]} to output column j. */
    public Epilogue withBias(MemorySegment bias, long offset) {
        return new Epilogue(activation, p, q, bias, offset, false, residual, residualOffset, residualStride);
    }

    /** This epilogue adding {@code bias[offset + i]} to output row i. */
    public Epilogue withRowBias(MemorySegment bias, long offset) {
        return new Epilogue(activation, p, q, bias, offset, true, residual, residualOffset, residualStride);
    }

    /** This epilogue adding {@code residual[offset + i * stride + j]} after the activation. */
    public Epilogue withResidual(MemorySegment residual, long offset, long stride) {
        return new Epilogue(activation, p, q, bias, biasOffset, biasPerRow, residual, offset, stride);
    }

    /** Whether it changes nothing. */
    public boolean isIdentity() {
        return activation == Activation.NONE && bias == null && residual == null;
    }

    // ---------------------------------------------------------------- vector form

    /**
     * Applies the epilogue in place to {@code rows x cols} values of C: element (r, j) at
     * {@code c[cOff + r * ldc + j]} is output (row0 + r, col0 + j).
     */
    public void apply(MemorySegment c, long cOff, long ldc, int rows, int cols, long row0, long col0) {
        for (int r = 0; r < rows; r++) {
            applyRow(c, cOff + r * ldc, row0 + r, col0, cols);
        }
    }

    /**
     * Applies the epilogue in place to {@code cols} values of C from element {@code at}: output row {@code row},
     * columns from {@code col0}. Bias and a light activation (and then the residual) in one pass; a heavy
     * activation (Gelu, GeluTanh) and the residual in a second pass ({@link VectorMath#apply}). Every vector stays
     * inside the method that makes it (partial vectors masked), so nothing is boxed whatever the JIT inlines.
     */
    public void applyRow(MemorySegment c, long at, long row, long col0, int cols) {
        boolean light = activation.light();
        if (bias != null || activation != Activation.NONE && light || residual != null && light) {
            long resAt = residualOffset + row * residualStride + col0;
            float rowBias = bias != null && biasPerRow ? bias.getAtIndex(Tensor.F32, biasOffset + row) : 0f;
            // A native C row is read and written through the constant all-memory segment at absolute addresses
            // (bounds checked here once), off the JDK's shared segment-access profile (see SgemmKernel#ALL).
            MemorySegment cs = c;
            long base = 0;
            if (c.isNative() && c.scope().isAlive()) {
                java.util.Objects.checkFromIndexSize(at * 4, cols * 4L, c.byteSize());
                cs = SgemmKernel.ALL;
                base = c.address();
            }
            for (int j = 0; j < cols; j += VL) {
                VectorMask<Float> m = S.indexInRange(j, cols);
                long off = base + (at + j) * 4;
                FloatVector x = FloatVector.fromMemorySegment(S, cs, off, LE, m);
                if (bias != null) {
                    x = biasPerRow ? x.add(rowBias)
                            : x.add(FloatVector.fromMemorySegment(S, bias, (biasOffset + col0 + j) * 4, LE, m));
                }
                switch (activation) {
                    case RELU -> x = x.max(0f);
                    case CLIP -> x = x.max(p).min(q);
                    case LEAKY_RELU -> x = x.blend(x.mul(p), x.compare(VectorOperators.LT, 0f));
                    default -> { }
                }
                if (light && residual != null) {
                    x = x.add(FloatVector.fromMemorySegment(S, residual, (resAt + j) * 4, LE, m));
                }
                x.intoMemorySegment(cs, off, LE, m);
            }
        }
        if (!light) {
            VectorMath.apply(activation == Activation.GELU_TANH ? VectorMath.GELU_TANH : VectorMath.GELU, c, at, c, at, cols,
                    residual, residualOffset + row * residualStride + col0);
        }
    }

    // ---------------------------------------------------------------- scalar reference

    /** The scalar twin: the epilogue of output (row, col) given {@code acc}, computed in double. */
    public float reference(float acc, long row, long col) {
        double x = acc;
        if (bias != null) {
            x += bias.getAtIndex(Tensor.F32, biasOffset + (biasPerRow ? row : col));
        }
        x = switch (activation) {
            case NONE -> x;
            case RELU -> Math.max(x, 0);
            case LEAKY_RELU -> x < 0 ? p * x : x;
            case CLIP -> Math.min(Math.max(x, p), q);
            case GELU -> 0.5 * x * (1 + VectorMath.erf(x / Math.sqrt(2)));
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        };
        if (residual != null) {
            x += residual.getAtIndex(Tensor.F32, residualOffset + row * residualStride + col);
        }
        return (float) x;
    }

    /** {@link #reference} applied in place to an {@code m x n} region of C (element (i, j) at cOff + i*ldc + j). */
    public void applyReference(MemorySegment c, long cOff, long ldc, int m, int n) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long at = cOff + i * ldc + j;
                c.setAtIndex(Tensor.F32, at, reference(c.getAtIndex(Tensor.F32, at), i, j));
            }
        }
    }
}
