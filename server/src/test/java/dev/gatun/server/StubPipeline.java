package dev.gatun.server;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import dev.gatun.server.pipeline.Pipeline;
import dev.gatun.server.pipeline.Pipelines;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * A test pipeline (type {@code "test-stub"}) for a float model with input x [batch, 4] and output y: text i
 * becomes the row (length, first code point, 0, 1); the output comes back as {@code features} plus
 * {@code length} (int64). The text "fail" is refused. {@code "sleep_ms"} slows every encode down, and
 * {@code "gate": NAME} makes encode wait for a permit of {@link #gate(String)}.
 */
final class StubPipeline implements Pipeline {
    static final Map<String, Semaphore> GATES = new ConcurrentHashMap<>();

    static {
        Pipelines.register("test-stub", spec -> new StubPipeline(spec.config().path("sleep_ms").asLong(0),
                spec.config().path("gate").asText(null)));
    }

    private final long sleepMs;
    private final String gate;

    private StubPipeline(long sleepMs, String gate) {
        this.sleepMs = sleepMs;
        this.gate = gate;
    }

    /** Makes sure the type is registered. */
    static void register() {
        // the static initializer registers
    }

    static Semaphore gate(String name) {
        return GATES.computeIfAbsent(name, n -> new Semaphore(0));
    }

    @Override
    public String rawInputName() {
        return "text";
    }

    @Override
    public Class<?> itemType() {
        return String.class;
    }

    @Override
    public Map<String, Tensor> encode(List<?> items, Arena arena) {
        try {
            if (gate != null) {
                if (!gate(gate).tryAcquire(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("gate " + gate + " never opened");
                }
            }
            if (sleepMs > 0) {
                Thread.sleep(sleepMs);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(items.size(), 4));
        for (int i = 0; i < items.size(); i++) {
            String s = (String) items.get(i);
            if (s.equals("fail")) {
                throw new PipelineException("text " + i + ": the stub refuses 'fail'");
            }
            x.data().setAtIndex(Tensor.F32, 4L * i, s.length());
            x.data().setAtIndex(Tensor.F32, 4L * i + 1, s.isEmpty() ? 0 : s.codePointAt(0));
            x.data().setAtIndex(Tensor.F32, 4L * i + 3, 1);
        }
        return Map.of("x", x);
    }

    @Override
    public Map<String, Tensor> decode(Map<String, Tensor> modelOutputs, Map<String, Tensor> modelInputs, Arena arena) {
        Tensor y = modelOutputs.get("y");
        long n = y.shape().dim(0);
        Tensor len = Tensor.allocate(arena, DType.INT64, Shape.of(n));
        for (long i = 0; i < n; i++) {
            len.data().setAtIndex(Tensor.I64, i, (long) modelInputs.get("x").getFloat(4 * i));
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("features", y);
        out.put("length", len);
        return out;
    }
}
