package dev.gatun.engine;

/**
 * How a session runs.
 *
 * @param threads         intra-op threads the session may use (>= 1; on CUDA, for the nodes that fall back to the CPU)
 * @param maxTensorBytes  largest tensor a run may create; a node asking for more fails with a LIMIT error before allocating
 * @param maxSessionBytes most native memory the session's workspace may reserve in all (activations, scratch; buffers
 *                        are kept and reused across runs, so this bounds the session's footprint); a node whose
 *                        allocation would pass it fails with a LIMIT error before allocating
 * @param device          {@code cpu}, {@code cuda} (device 0) or {@code cuda:N}
 * @param cudaMath        precision cuBLAS may use inside GEMMs on CUDA: {@code fp32} (default, exact fp32),
 *                        {@code tf32} (TF32 tensor cores) or {@code fp16} (inputs rounded to half, fp32 accumulation);
 *                        tensors stay fp32 either way
 */
public record SessionOptions(int threads, long maxTensorBytes, long maxSessionBytes, String device, String cudaMath) {
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
        device = device == null ? "cpu" : device;
        if (!device.equals("cpu") && !device.matches("cuda(:\\d{1,3})?")) {
            throw new IllegalArgumentException("device must be cpu, cuda or cuda:N, got '" + device + "'");
        }
        cudaMath = cudaMath == null ? "fp32" : cudaMath;
        if (!cudaMath.equals("fp32") && !cudaMath.equals("tf32") && !cudaMath.equals("fp16")) {
            throw new IllegalArgumentException("cudaMath must be fp32, tf32 or fp16, got '" + cudaMath + "'");
        }
    }

    /** CPU options with the default session memory limit. */
    public SessionOptions(int threads, long maxTensorBytes) {
        this(threads, maxTensorBytes, DEFAULT_MAX_SESSION_BYTES);
    }

    /** CPU options. */
    public SessionOptions(int threads, long maxTensorBytes, long maxSessionBytes) {
        this(threads, maxTensorBytes, maxSessionBytes, "cpu", "fp32");
    }

    /** Options on {@code device} with the default session memory limit. */
    public SessionOptions(int threads, long maxTensorBytes, String device, String cudaMath) {
        this(threads, maxTensorBytes, DEFAULT_MAX_SESSION_BYTES, device, cudaMath);
    }

    /** One thread, default limits, the CPU. */
    public static SessionOptions defaults() {
        return new SessionOptions(1, DEFAULT_MAX_TENSOR_BYTES, DEFAULT_MAX_SESSION_BYTES);
    }

    public SessionOptions withThreads(int threads) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes, device, cudaMath);
    }

    public SessionOptions withMaxTensorBytes(long maxTensorBytes) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes, device, cudaMath);
    }

    public SessionOptions withMaxSessionBytes(long maxSessionBytes) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes, device, cudaMath);
    }

    /** The same options on {@code device} (cpu, cuda, cuda:N). */
    public SessionOptions withDevice(String device) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes, device, cudaMath);
    }

    /** The same options with another GEMM precision on CUDA (fp32, tf32, fp16). */
    public SessionOptions withCudaMath(String cudaMath) {
        return new SessionOptions(threads, maxTensorBytes, maxSessionBytes, device, cudaMath);
    }

    /** Whether the session runs on a CUDA device. */
    public boolean isCuda() {
        return device.startsWith("cuda");
    }

    /** The CUDA device index (0 for plain {@code cuda}). */
    public int cudaDevice() {
        return device.startsWith("cuda:") ? Integer.parseInt(device.substring(5)) : 0;
    }
}
