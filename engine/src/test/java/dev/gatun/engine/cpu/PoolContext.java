package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.function.IntConsumer;

/** Kernel contexts for kernel tests: allocating from an arena, {@code threads} threads run on a test pool. */
final class PoolContext {
    private PoolContext() {}

    /** A context on {@code arena} with {@code threads} threads: one runs tasks inline, more use {@code pool}. */
    static KernelContext of(Arena arena, IntraOpPool pool, int threads) {
        ArenaContext base = new ArenaContext(arena);
        return new KernelContext() {
            @Override
            public Tensor allocate(DType dtype, Shape shape) {
                return base.allocate(dtype, shape);
            }

            @Override
            public int threads() {
                return threads;
            }

            @Override
            public void parallelFor(int tasks, IntConsumer body) {
                if (threads == 1) {
                    KernelContext.super.parallelFor(tasks, body);
                } else {
                    pool.parallelFor(tasks, body);
                }
            }
        };
    }
}
