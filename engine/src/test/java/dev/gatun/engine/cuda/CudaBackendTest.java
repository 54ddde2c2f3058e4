package dev.gatun.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.conformance.ConformanceRunner;
import dev.gatun.engine.models.GeneratedModels;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend against the CPU on the same inputs: single ops on random shapes with odd sizes, whole models,
 * the pool in steady state and CUDA-graph replay. Tagged "cuda"; skips with a message where no CUDA device or
 * library is found.
 */
@Tag("cuda")
class CudaBackendTest {
    static final SessionOptions CUDA = SessionOptions.defaults().withDevice("cuda");

    @BeforeEach
    void requireCuda() {
        try {
            CudaSession.requireDevice(0);
        } catch (EngineException e) {
            Assumptions.abort("CUDA tests skipped: " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ single-node models

    /** One node over float inputs of the given shapes (weights as float initializers), opset 17 plus dev.gatun 1. */
    static final class OneNode {
        final Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("one");
        final Onnx.NodeProto.Builder n;
        final Random rnd = new Random(42);
        int count;

        OneNode(String op, String domain) {
            n = Onnx.NodeProto.newBuilder().setOpType(op).setName(op + "_0").setDomain(domain).addOutput("y");
            g.addOutput(Onnx.ValueInfoProto.newBuilder().setName("y").setType(Onnx.TypeProto.newBuilder()
                    .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1))));
        }

        OneNode input(long... dims) {
            String name = "x" + count++;
            Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder();
            for (long d : dims) {
                s.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
            }
            g.addInput(Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder()
                    .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))));
            n.addInput(name);
            return this;
        }

        OneNode weight(long... dims) {
            String name = "w" + count++;
            long size = 1;
            for (long d : dims) {
                size *= d;
            }
            ByteBuffer b = ByteBuffer.allocate((int) size * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < size; i++) {
                b.putFloat((float) rnd.nextGaussian() * 0.5f);
            }
            Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b.array()));
            for (long d : dims) {
                t.addDims(d);
            }
            g.addInitializer(t);
            n.addInput(name);
            return this;
        }

        OneNode longs(long... v) {
            String name = "l" + count++;
            ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long x : v) {
                b.putLong(x);
            }
            g.addInitializer(Onnx.TensorProto.newBuilder().setName(name).setDataType(7).addDims(v.length)
                    .setRawData(ByteString.copyFrom(b.array())));
            n.addInput(name);
            return this;
        }

        OneNode ints(String attr, long... v) {
            Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(attr).setType(Onnx.AttributeProto.AttributeType.INTS);
            for (long x : v) {
                a.addInts(x);
            }
            n.addAttribute(a);
            return this;
        }

        OneNode attr(String attr, long v) {
            n.addAttribute(Onnx.AttributeProto.newBuilder().setName(attr).setType(Onnx.AttributeProto.AttributeType.INT).setI(v));
            return this;
        }

        OneNode attr(String attr, String v) {
            n.addAttribute(Onnx.AttributeProto.newBuilder().setName(attr).setType(Onnx.AttributeProto.AttributeType.STRING)
                    .setS(ByteString.copyFromUtf8(v)));
            return this;
        }

        Model model() {
            g.addNode(n);
            Onnx.ModelProto m = Onnx.ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                    .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                    .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("dev.gatun").setVersion(1)).build();
            return Model.load(m.toByteArray(), n.getOpType());
        }
    }

    /** Runs {@code m} on the CPU and on CUDA with the same random inputs; every node must run on CUDA. */
    static void sameOnBoth(Model m, double rtol) {
        try (m; Arena arena = Arena.ofShared(); Session cpu = m.newSession(); Session gpu = m.newSession(CUDA)) {
            for (Session.Placement p : gpu.placements()) {
                assertTrue(p.device().startsWith("cuda"), p + " runs on " + p.device());
            }
            Map<String, Tensor> feed = random(m.inputs(), arena, new Random(1));
            try (Result a = cpu.run(feed); Result b = gpu.run(feed)) {
                for (Map.Entry<String, Tensor> e : a.asMap().entrySet()) {
                    String diff = ConformanceRunner.compare(b.get(e.getKey()), e.getValue(), rtol);
                    assertNull(diff, m.name() + " output " + e.getKey() + ": " + diff);
                }
            }
        }
    }

    static Map<String, Tensor> random(List<TensorInfo> inputs, Arena arena, Random rnd) {
        Map<String, Tensor> feed = new LinkedHashMap<>();
        for (TensorInfo in : inputs) {
            Tensor t = Tensor.allocate(arena, in.dtype(), in.shape());
            for (long i = 0; i < t.size(); i++) {
                if (in.dtype() == DType.FLOAT) {
                    t.data().setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
                } else if (in.dtype() == DType.INT64) {
                    t.data().setAtIndex(Tensor.I64, i, rnd.nextInt(100));
                }
            }
            feed.put(in.name(), t);
        }
        return feed;
    }

    @Test
    void elementwiseWithBroadcasting() {
        for (String op : List.of("Add", "Sub", "Mul", "Div", "Max", "Min")) {
            sameOnBoth(new OneNode(op, "").input(3, 1, 37).input(5, 1).model(), 1e-6);
            sameOnBoth(new OneNode(op, "").input(2, 129).input(2, 129).model(), 1e-6);
        }
    }

    @Test
    void activations() {
        for (String op : List.of("Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Erf", "HardSwish", "Softplus")) {
            sameOnBoth(new OneNode(op, "").input(7, 333).model(), 1e-5);
        }
        sameOnBoth(new OneNode("Gelu", "dev.gatun").input(5, 1001).model(), 1e-5);
    }

    @Test
    void softmaxLayerNormAttention() {
        sameOnBoth(new OneNode("Softmax", "").input(3, 5, 131).model(), 1e-5);
        sameOnBoth(new OneNode("LayerNormalization", "").input(6, 385).weight(385).weight(385).model(), 1e-4);
        sameOnBoth(new OneNode("SkipLayerNormalization", "dev.gatun").input(2, 7, 96).input(2, 7, 96).weight(96).weight(96).model(), 1e-4);
        sameOnBoth(new OneNode("Attention", "dev.gatun").input(2, 37, 96).input(2, 37, 96).input(2, 37, 96).input(2, 1, 1, 37)
                .attr("num_heads", 3).model(), 1e-4);
    }

    @Test
    void gemmsAndConvolutions() {
        sameOnBoth(new OneNode("MatMul", "").input(3, 17, 65).weight(65, 33).model(), 1e-4);
        sameOnBoth(new OneNode("MatMul", "").input(4, 17, 65).input(4, 65, 9).model(), 1e-4);
        sameOnBoth(new OneNode("Gemm", "").input(13, 70).weight(31, 70).weight(31).attr("transB", 1).model(), 1e-4);
        sameOnBoth(new OneNode("FusedMatMul", "dev.gatun").input(2, 9, 40).weight(40, 24).weight(24).attr("activation", "Gelu").model(), 1e-4);
        sameOnBoth(new OneNode("Conv", "").input(2, 3, 17, 19).weight(8, 3, 3, 3).weight(8).ints("pads", 1, 1, 1, 1)
                .ints("strides", 2, 2).model(), 1e-4);
        sameOnBoth(new OneNode("Conv", "").input(1, 16, 9, 9).weight(16, 1, 3, 3).attr("group", 16).ints("pads", 1, 1, 1, 1).model(), 1e-4);
        sameOnBoth(new OneNode("Conv", "").input(2, 8, 5, 7).weight(12, 8, 1, 1).model(), 1e-4);
        sameOnBoth(new OneNode("MaxPool", "").input(2, 3, 15, 13).ints("kernel_shape", 3, 3).ints("strides", 2, 2)
                .ints("pads", 1, 1, 1, 1).model(), 1e-6);
        sameOnBoth(new OneNode("GlobalAveragePool", "").input(2, 5, 7, 7).model(), 1e-5);
        sameOnBoth(new OneNode("ReduceMean", "").input(3, 11, 29).ints("axes", -1).model(), 1e-5);
    }

    @Test
    void layout() {
        sameOnBoth(new OneNode("Transpose", "").input(2, 3, 5, 7).ints("perm", 0, 2, 1, 3).model(), 0);
        sameOnBoth(new OneNode("Concat", "").input(2, 3, 5).input(2, 4, 5).attr("axis", 1).model(), 0);
        sameOnBoth(new OneNode("Reshape", "").input(2, 3, 5).longs(0, -1).model(), 0);
        sameOnBoth(new OneNode("Gather", "").weight(50, 7).longs(3, 0, 49, -1).model(), 0);
    }

    @Test
    void wholeModelsMatchTheCpu() throws Exception {
        for (String name : List.of("resnet18.onnx", "mobilenet_v2.onnx")) {
            Path p = GeneratedModels.get(name);
            Assumptions.assumeTrue(p != null, "generated models unavailable");
            try (Model m = Model.load(p); Arena arena = Arena.ofShared(); Session cpu = m.newSession(); Session gpu = m.newSession(CUDA)) {
                Map<String, Tensor> feed = random(m.inputs().stream().map(i -> new TensorInfo(i.name(), i.dtype(),
                        Shape.of(i.shape().dims()[0] < 0 ? 1 : i.shape().dims()[0], 3, 224, 224))).toList(), arena, new Random(3));
                try (Result a = cpu.run(feed); Result b = gpu.run(feed)) {
                    String diff = ConformanceRunner.compare(b.get(0), a.get(0), 1e-3);
                    assertNull(diff, name + ": " + diff);
                }
            }
        }
    }

    @Test
    void graphReplayGivesTheSameResultsAndMovesOnlyInputsAndOutputs() {
        try (Model m = new OneNode("MatMul", "").input(8, 64).weight(64, 32).model(); Arena arena = Arena.ofShared();
             Session gpu = m.newSession(CUDA)) {
            Map<String, Tensor> feed = random(m.inputs(), arena, new Random(5));
            float[] first = null;
            for (int run = 0; run < 4; run++) {
                try (Result r = gpu.run(feed)) {
                    float[] out = r.get(0).toFloatArray();
                    if (first == null) {
                        first = out;
                    } else {
                        assertEquals(java.util.Arrays.toString(first), java.util.Arrays.toString(out), "run " + run);
                    }
                }
                CudaSession.RunStats st = gpu.lastCudaRun();
                assertEquals(8 * 64 * 4, st.h2dBytes());
                assertEquals(8 * 32 * 4, st.d2hBytes());
                assertEquals(0, st.midRunTransfers());
                assertEquals(run >= 1, st.graphReplay(), "run " + run);
            }
            long mallocs = gpu.lastCudaRun().cudaMallocCalls();
            try (Result r = gpu.run(feed)) {
                assertEquals(mallocs, gpu.lastCudaRun().cudaMallocCalls(), "no cudaMalloc in steady state");
            }
        }
    }
}
