package dev.gatun.bindings.cuda;

/**
 * A CUDA library, device or call failure. The message names the library or call and carries CUDA's own error
 * name and string (for example {@code cudaMalloc failed: cudaErrorMemoryAllocation (out of memory)}).
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, coarsely: callers turn the first two into "no CUDA" messages. */
    public enum Kind {
        /** A CUDA library (or a symbol in it) could not be found or loaded. */
        NO_LIBRARY,
        /** The libraries loaded but there is no usable device (none present, no driver, wrong driver). */
        NO_DEVICE,
        /** A CUDA, driver, cuBLAS or NVRTC call returned an error status. */
        CALL_FAILED
    }

    private final Kind kind;
    private final int status;

    public CudaException(Kind kind, String message) {
        this(kind, message, 0);
    }

    public CudaException(Kind kind, String message, int status) {
        super(message);
        this.kind = kind;
        this.status = status;
    }

    public Kind kind() {
        return kind;
    }

    /** The status code the failed call returned (0 when not a call failure). */
    public int status() {
        return status;
    }
}
