package dev.gatun.engine.prune;

import java.util.List;

/**
 * What {@link Pruner} did.
 *
 * @param options  the options it ran with
 * @param layers   the pruned layers, in graph order
 * @param skipped  candidate layers left dense, with the reason
 * @param irBumped whether the model's IR version was raised to 6 (the first with {@code sparse_initializer})
 */
public record PruneReport(PruneOptions options, List<Layer> layers, List<Skipped> skipped, boolean irBumped) {

    /**
     * One pruned weight.
     *
     * @param node          the consuming node's name
     * @param opType        MatMul, Gemm or Conv
     * @param weight        the initializer's name
     * @param dims          its shape
     * @param zerosBefore   zeros it held before pruning
     * @param zeros         zeros after
     * @param relativeError ||W - W'|| / ||W|| (Frobenius; 0 for an all-zero weight)
     * @param denseBytes    its bytes stored dense (fp32)
     * @param storedBytes   its bytes as written: the sparse values and indices, or dense when that is smaller
     * @param sparse        whether it is written as a {@code sparse_initializer}
     */
    public record Layer(String node, String opType, String weight, long[] dims, long zerosBefore, long zeros, double relativeError,
                        long denseBytes, long storedBytes, boolean sparse) {
        public long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        /** The fraction of zeros after pruning. */
        public double sparsity() {
            long n = elements();
            return n == 0 ? 0 : (double) zeros / n;
        }
    }

    /** A MatMul/Gemm/Conv whose weight was not pruned, and why. */
    public record Skipped(String node, String opType, String weight, String reason) {}

    /** Weights in the pruned layers. */
    public long elements() {
        return layers.stream().mapToLong(Layer::elements).sum();
    }

    /** Zeros in the pruned layers after pruning. */
    public long zeros() {
        return layers.stream().mapToLong(Layer::zeros).sum();
    }

    /** The fraction of zeros over all pruned layers. */
    public double sparsity() {
        long n = elements();
        return n == 0 ? 0 : (double) zeros() / n;
    }

    /** The pruned layers' bytes stored dense. */
    public long denseBytes() {
        return layers.stream().mapToLong(Layer::denseBytes).sum();
    }

    /** The pruned layers' bytes as written. */
    public long storedBytes() {
        return layers.stream().mapToLong(Layer::storedBytes).sum();
    }
}
