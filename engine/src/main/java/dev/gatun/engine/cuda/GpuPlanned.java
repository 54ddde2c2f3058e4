package dev.gatun.engine.cuda;

/**
 * A node planned for the GPU: its kernel and the inputs it reads on the host (bit i set: input i; the executor
 * passes host tensors there, copying down only when the value lives on the device).
 */
record GpuPlanned(GpuKernel kernel, long hostInputs) {
    static GpuPlanned of(GpuKernel k) {
        return new GpuPlanned(k, 0);
    }

    static GpuPlanned host(GpuKernel k, int... hostInputs) {
        long m = 0;
        for (int i : hostInputs) {
            m |= 1L << i;
        }
        return new GpuPlanned(k, m);
    }

    boolean onHost(int input) {
        return (hostInputs >>> input & 1) != 0;
    }
}
