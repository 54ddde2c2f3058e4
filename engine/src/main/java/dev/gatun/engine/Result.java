package dev.gatun.engine;

import dev.gatun.engine.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The outputs of one run, in the model's output order. The result owns their memory: after {@link #close()}
 * the tensors are invalid (reading one throws, it never reads freed memory).
 */
public final class Result implements AutoCloseable {
    private final NativeMemory.Tracked arena;
    private final Map<String, Tensor> outputs;
    private volatile boolean closed;

    Result(NativeMemory.Tracked arena, Map<String, Tensor> outputs) {
        this.arena = arena;
        this.outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    }

    /** The output named {@code name}. */
    public Tensor get(String name) {
        checkOpen();
        Tensor t = outputs.get(name);
        if (t == null) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, "no output named '" + name + "'; outputs are " + outputs.keySet());
        }
        return t;
    }

    /** The {@code i}-th output in model order. */
    public Tensor get(int i) {
        checkOpen();
        return List.copyOf(outputs.values()).get(i);
    }

    /** Output names in model order. */
    public List<String> names() {
        return List.copyOf(outputs.keySet());
    }

    /** All outputs by name, in model order. */
    public Map<String, Tensor> asMap() {
        checkOpen();
        return outputs;
    }

    /** Native bytes the outputs occupy (0 once closed). */
    public long nativeBytes() {
        return arena.bytes();
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    private void checkOpen() {
        if (closed) {
            throw new EngineException(EngineException.Kind.CLOSED, "result is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
