package dev.gatun.engine.models;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
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
 * ONNX Runtime (Java API, CPU, optimisation level ALL) as the reference for the whole-model tests: the inputs are
 * handed over as direct buffers over the Gatun tensors' memory, the outputs copied into Gatun tensors. The CLI's
 * {@code verify} has its own copy in the bench module (ONNX Runtime is only a test dependency of the engine).
 */
public final class OrtReference {
    private OrtReference() {}

    public static Map<String, Tensor> run(Path model, Map<String, Tensor> inputs, Arena arena) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            try (OrtSession session = env.createSession(model.toString(), opts)) {
                Map<String, OnnxTensor> feed = new LinkedHashMap<>();
                try {
                    for (Map.Entry<String, Tensor> e : inputs.entrySet()) {
                        feed.put(e.getKey(), toOrt(env, e.getValue()));
                    }
                    Map<String, Tensor> out = new LinkedHashMap<>();
                    try (OrtSession.Result r = session.run(feed)) {
                        for (Map.Entry<String, OnnxValue> e : r) {
                            OnnxTensor ot = (OnnxTensor) e.getValue();
                            // The Java enum's value is not the ONNX id; its names match Gatun's after the prefix.
                            DType dt = DType.valueOf(ot.getInfo().onnxType.name().substring("ONNX_TENSOR_ELEMENT_DATA_TYPE_".length()));
                            Tensor t = Tensor.allocate(arena, dt, Shape.of(ot.getInfo().getShape()));
                            MemorySegment.copy(MemorySegment.ofBuffer(ot.getByteBuffer()), 0, t.data(), 0, t.byteSize());
                            out.put(e.getKey(), t);
                        }
                    }
                    return out;
                } finally {
                    feed.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    private static OnnxTensor toOrt(OrtEnvironment env, Tensor t) throws OrtException {
        ByteBuffer b = t.data().asByteBuffer().order(ByteOrder.nativeOrder());
        long[] shape = t.shape().dims();
        return switch (t.dtype()) {
            case FLOAT -> OnnxTensor.createTensor(env, b.asFloatBuffer(), shape);
            case INT64 -> OnnxTensor.createTensor(env, b.asLongBuffer(), shape);
            case INT32 -> OnnxTensor.createTensor(env, b.asIntBuffer(), shape);
            default -> throw new IllegalArgumentException("the whole-model tests feed float, int64 or int32, not " + t.dtype());
        };
    }
}
