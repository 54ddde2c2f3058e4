package dev.gatun.engine;

/**
 * The one unchecked exception the engine throws. Its message names what went wrong and where: the file, node
 * name, op type and opset, input names, shapes and dtypes, as far as they are known. {@link #kind()} tells
 * the category, so callers (the CLI, the server) can map it to an exit code or an HTTP status without parsing text.
 */
public class EngineException extends RuntimeException {
    /** What kind of failure this is. */
    public enum Kind {
        /** The model file is unreadable, malformed, truncated or unsafe. */
        MODEL_LOAD,
        /** The model uses an op, opset, dtype or feature Gatun does not support. */
        UNSUPPORTED,
        /** The caller's inputs do not match what the model expects (names, dtypes, ranks, dims, values). */
        INVALID_INPUT,
        /** A limit was hit (tensor too large, memory budget). */
        LIMIT,
        /** The session, model or result was used after close. */
        CLOSED,
        /** A failure while running a node (shape mismatch discovered at run time, invalid data for an op). */
        RUNTIME
    }

    private final Kind kind;

    public EngineException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public EngineException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
