package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.Tensor;

/**
 * A planned, bound step: one node, its kernel chosen at plan time. {@link #run} reads its inputs (null for an
 * omitted optional input), computes output shapes (it may read input values, e.g. Reshape's shape input),
 * and returns its outputs: tensors allocated through {@code ctx}, or views of its inputs (same segment instance,
 * e.g. {@link Tensor#reshape}) for ops that only change the shape. It never writes to its inputs.
 * Errors are {@link dev.gatun.engine.EngineException}s made with {@link NodeSpec#error}.
 */
@FunctionalInterface
public interface Kernel {
    Tensor[] run(KernelContext ctx, Tensor[] inputs);
}
