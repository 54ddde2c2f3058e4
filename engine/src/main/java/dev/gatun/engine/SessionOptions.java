package dev.gatun.engine;

/**
 * How a session runs.
 *
 * @param threads        intra-op threads the session may use (>= 1)
 * @param maxTensorBytes largest tensor a run may create; a node asking for more fails with a LIMIT error before allocating
 */
public record SessionOptions(int threads, long maxTensorBytes) {
    /** 4 GiB: far above any tensor of the models Gatun targets, far below what would take the machine down. */
    public static final long DEFAULT_MAX_TENSOR_BYTES = 4L << 30;

    public SessionOptions {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        if (maxTensorBytes < 1) {
            throw new IllegalArgumentException("maxTensorBytes must be >= 1, got " + maxTensorBytes);
        }
    }

    /** One thread, default limits. */
    public static SessionOptions defaults() {
        return new SessionOptions(1, DEFAULT_MAX_TENSOR_BYTES);
    }

    public SessionOptions withThreads(int threads) {
        return new SessionOptions(threads, maxTensorBytes);
    }

    public SessionOptions withMaxTensorBytes(long maxTensorBytes) {
        return new SessionOptions(threads, maxTensorBytes);
    }
}
