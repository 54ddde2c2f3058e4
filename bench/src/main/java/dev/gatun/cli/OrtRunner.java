package dev.gatun.cli;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs a model on ONNX Runtime in-process (its Java API, CPU, graph optimisation level ALL) as the reference for
 * {@code gatun verify} and the baseline of {@code gatun bench}. Inputs are handed over as direct buffers over the Gatun tensors' native memory, without
 * copying; outputs are copied into Gatun tensors.
 */
final class OrtRunner {
    private OrtRunner() {}

    /** Runs {@code model} on {@code inputs}; the outputs live in {@code arena}, in ONNX Runtime's output order. */
    static Map<String, Tensor> run(Path model, Map<String, Tensor> inputs, int threads, Arena arena) throws OrtException {
        try (OrtSession session = open(model, threads)) {
            Map<String, OnnxTensor> feed = feed(inputs, arena);
            try {
                Map<String, Tensor> out = new LinkedHashMap<>();
                try (OrtSession.Result r = session.run(feed)) {
                    for (Map.Entry<String, OnnxValue> e : r) {
                        out.put(e.getKey(), fromOrt(e.getKey(), e.getValue(), arena));
                    }
                }
                return out;
            } finally {
                feed.values().forEach(OnnxTensor::close);
            }
        }
    }

    /**
     * A session on {@code model} with {@code threads} intra-op threads, one inter-op thread, sequential execution
     * and graph optimisation level ALL: the configuration {@code verify} and {@code bench} compare against.
     * Its workers still spin inside a run, but stop spinning when {@code run} returns
     * ({@code session.force_spinning_stop}): by default they spin on for tens of milliseconds after each run, and
     * in {@code bench}'s interleaved measurement that took a core from Gatun's next two-thread run (MiniLM 1x128:
     * 40 ms instead of 18; ONNX Runtime's own runs measured the same either way).
     */
    static OrtSession open(Path model, int threads) throws OrtException {
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.addConfigEntry("session.force_spinning_stop", "1");
            return OrtEnvironment.getEnvironment().createSession(model.toString(), opts);
        }
    }

    /**
     * ONNX Runtime tensors over the Gatun tensors' memory (copied into {@code arena} only when not native); the
     * caller closes them, and must keep {@code inputs} alive while they are used.
     */
    static Map<String, OnnxTensor> feed(Map<String, Tensor> inputs, Arena arena) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> e : inputs.entrySet()) {
                feed.put(e.getKey(), toOrt(env, e.getKey(), e.getValue(), arena));
            }
            return feed;
        } catch (OrtException | RuntimeException e) {
            feed.values().forEach(OnnxTensor::close);
            throw e;
        }
    }

    private static OnnxTensor toOrt(OrtEnvironment env, String name, Tensor t, Arena arena) throws OrtException {
        long[] shape = t.shape().dims();
        if (t.dtype() == DType.STRING) {
            return OnnxTensor.createTensor(env, t.strings(), shape);
        }
        MemorySegment seg = t.data();
        if (!seg.isNative()) {
            seg = t.copy(arena).data();
        }
        ByteBuffer b = seg.asByteBuffer().order(ByteOrder.nativeOrder());
        return switch (t.dtype()) {
            case FLOAT -> OnnxTensor.createTensor(env, b.asFloatBuffer(), shape);
            case DOUBLE -> OnnxTensor.createTensor(env, b.asDoubleBuffer(), shape);
            case INT64 -> OnnxTensor.createTensor(env, b.asLongBuffer(), shape);
            case INT32 -> OnnxTensor.createTensor(env, b.asIntBuffer(), shape);
            case INT16 -> OnnxTensor.createTensor(env, b.asShortBuffer(), shape);
            case INT8 -> OnnxTensor.createTensor(env, b, shape, OnnxJavaType.INT8);
            case UINT8 -> OnnxTensor.createTensor(env, b, shape, OnnxJavaType.UINT8);
            case BOOL -> OnnxTensor.createTensor(env, b, shape, OnnxJavaType.BOOL);
            case FLOAT16 -> OnnxTensor.createTensor(env, b.asShortBuffer(), shape, OnnxJavaType.FLOAT16);
            case BFLOAT16 -> OnnxTensor.createTensor(env, b.asShortBuffer(), shape, OnnxJavaType.BFLOAT16);
            default -> throw new EngineException(EngineException.Kind.UNSUPPORTED, "input '" + name + "' is " + t.dtype()
                    + ", which ONNX Runtime's Java API cannot take");
        };
    }

    private static Tensor fromOrt(String name, OnnxValue v, Arena arena) throws OrtException {
        if (!(v instanceof OnnxTensor ot)) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, "ONNX Runtime output '" + name + "' is a "
                    + v.getType() + ", not a tensor; only tensor outputs can be compared");
        }
        DType dt = dtypeOf(ot.getInfo().onnxType);
        if (dt == null) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, "ONNX Runtime output '" + name + "' has type "
                    + ot.getInfo().onnxType + ", which Gatun does not have");
        }
        Shape shape = Shape.of(ot.getInfo().getShape());
        if (dt == DType.STRING) {
            return Tensor.ofStrings(shape, flatStrings(ot.getValue(), (int) shape.size()));
        }
        Tensor t = Tensor.allocate(arena, dt, shape);
        ByteBuffer b = ot.getByteBuffer();
        MemorySegment.copy(MemorySegment.ofBuffer(b), 0, t.data(), 0, t.byteSize());
        return t;
    }

    /**
     * Gatun's type for ONNX Runtime's element type, or null. (The Java enum's {@code value} is not the ONNX id;
     * the names match Gatun's after the prefix.)
     */
    static DType dtypeOf(TensorInfo.OnnxTensorType t) {
        String name = t.name().substring("ONNX_TENSOR_ELEMENT_DATA_TYPE_".length());
        try {
            return DType.valueOf(name);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String[] flatStrings(Object value, int n) {
        String[] out = new String[n];
        int[] k = {0};
        flatten(value, out, k);
        return out;
    }

    private static void flatten(Object v, String[] out, int[] k) {
        if (v instanceof String s) {
            out[k[0]++] = s;
        } else if (v instanceof Object[] arr) {
            for (Object o : arr) {
                flatten(o, out, k);
            }
        }
    }
}
