package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;

/** What a kernel may use while it runs: the session's workspace allocator and its limits. */
public interface KernelContext {
    /**
     * A tensor from the session's workspace. Its contents are undefined (memory is reused between nodes
     * and runs): the kernel must write every element, or use {@link #allocateZeroed}.
     *
     * @throws dev.gatun.engine.EngineException of kind LIMIT when the tensor exceeds the session's limits
     */
    Tensor allocate(DType dtype, Shape shape);

    /** As {@link #allocate}, filled with zeros. */
    default Tensor allocateZeroed(DType dtype, Shape shape) {
        Tensor t = allocate(dtype, shape);
        if (dtype != DType.STRING) {
            t.data().fill((byte) 0);
        }
        return t;
    }

    default Tensor allocate(DType dtype, long... dims) {
        return allocate(dtype, Shape.of(dims));
    }

    /** Threads the kernel may use (the session's intra-op parallelism). */
    default int threads() {
        return 1;
    }

    /**
     * Runs {@code body.accept(i)} for i in [0, tasks) on the session's intra-op threads (the caller included) and
     * returns when all are done. Tasks must write disjoint memory. Split work into about {@code threads()} to
     * {@code 4 * threads()} tasks of similar cost.
     */
    default void parallelFor(int tasks, java.util.function.IntConsumer body) {
        for (int i = 0; i < tasks; i++) {
            body.accept(i);
        }
    }
}
