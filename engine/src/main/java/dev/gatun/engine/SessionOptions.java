package dev.gatun.engine;

/**
 * How a session runs.
 *
 * @param threads         intra-op threads the session may use (>= 1)
 * @param maxTensorBytes  largest tensor a run may create; a node asking for more fails with a LIMIT error before allocating
 * @param maxSessionBytes most native memory the session's workspace may reserve in all (activations, scratch; buffers
 *                        are kept and reused across runs, so this bounds the session's footprint); a node whose
 *                        allocation would pass it fails with a LIMIT error before allocating
 */
public record SessionOptions(int threads, long maxTensorBytes, long maxSessionBytes) {
    /** 4 GiB: far above any tensor of the models Gatun targets, far below what would take the machine down. */
    public static final long DEFAULT_MAX_TENSOR_BYTES = 4L << 30;
    /** 16 GiB of workspace per session. */
    public static final long DEFAULT_MAX_SESSION_BYTES = 16L << 30;

    public SessionOptions {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        if (maxTensorBytes < 1) {
            throw new IllegalArgumentException("maxTensorBytes must be >= 1, got " + maxTensorBytes);
        }
        if (maxSessionBytes < 1) {
            throw new IllegalArgumentException("maxSessionBytes must be >= 1, got " + maxSessionBytes);
        }
    }

    /** Options with the default session memory limit. */
    public SessionOptions(int threads, long maxTensorBytes) {
        this(threads, maxTensorBytes, DEFAULT_MAX_SESSION_BYTES);
    }

    /** One thread, default limits. */
    public static SessionOptions defaults() {
        return new SessionOptions(1, DEFAULT_MAX_TENSOR_BYTES, DEFAULT_MAX_SESSION_BYTES);
    }

    public SessionOptions withThreads(int threads) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes);
    }

    public SessionOptions withMaxTensorBytes(long maxTensorBytes) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes);
    }

    public SessionOptions withMaxSessionBytes(long maxSessionBytes) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes);
    }
}
