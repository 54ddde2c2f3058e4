package dev.gatun.engine.cuda;

/**
 * One node's GPU implementation, chosen at plan time by {@link GpuOps}. {@link #run} receives the node's inputs as
 * {@link DeviceTensor}s, or as host {@link dev.gatun.engine.tensor.Tensor}s for the inputs {@link GpuPlanned#hostInputs}
 * names (shape-carrying inputs such as Reshape's), null for omitted ones; it computes output shapes on the host,
 * queues its kernels on the session's stream through {@code ctx} (never synchronising) and returns its outputs:
 * device tensors, views of its inputs, or host tensors for shape-only ops (Shape).
 */
@FunctionalInterface
interface GpuKernel {
    Object[] run(GpuContext ctx, Object[] in);
}
