package dev.gatun.engine.ops;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;

/**
 * A kernel context that allocates every tensor fresh from one arena: what constant folding at load time and
 * unit tests use. Sessions use their pooled workspace instead.
 */
public final class ArenaContext implements KernelContext {
    private final Arena arena;
    private final long maxTensorBytes;
    private long budget;

    /**
     * @param maxTensorBytes largest tensor
     * @param maxTotalBytes  most bytes allocated in all (constant folding's share of LoadOptions.maxInitializerBytes)
     */
    public ArenaContext(Arena arena, long maxTensorBytes, long maxTotalBytes) {
        this.arena = arena;
        this.maxTensorBytes = maxTensorBytes;
        this.budget = maxTotalBytes;
    }

    public ArenaContext(Arena arena, long maxTensorBytes) {
        this(arena, maxTensorBytes, Long.MAX_VALUE);
    }

    public ArenaContext(Arena arena) {
        this(arena, Long.MAX_VALUE);
    }

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        long bytes = checkedBytes(dtype, shape, maxTensorBytes);
        if (bytes > budget) {
            throw new EngineException(EngineException.Kind.LIMIT, "tensor " + dtype + shape + " needs " + bytes
                    + " bytes, over the " + budget + " bytes left of the constant memory limit (LoadOptions.maxInitializerBytes)");
        }
        budget -= bytes;
        return Tensor.allocate(arena, dtype, shape);
    }

    @Override
    public Tensor allocateZeroed(DType dtype, Shape shape) {
        return allocate(dtype, shape);
    }

    /** Bytes a tensor needs (a string element counts as its 8-byte reference), refusing overflow and sizes beyond {@code limit} before anything is allocated. */
    public static long checkedBytes(DType dtype, Shape shape, long limit) {
        long bytes;
        try {
            bytes = Math.multiplyExact(shape.size(), dtype == DType.STRING ? 8L : dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new EngineException(EngineException.Kind.LIMIT, "tensor " + dtype + shape + " has more elements than fit in memory");
        }
        if (bytes > limit) {
            throw new EngineException(EngineException.Kind.LIMIT, "tensor " + dtype + shape + " needs " + bytes
                    + " bytes, over the limit of " + limit + " bytes per tensor");
        }
        return bytes;
    }
}
