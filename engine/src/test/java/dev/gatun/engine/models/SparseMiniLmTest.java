package dev.gatun.engine.models;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.gatun.engine.KernelChoice;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.ops.SparsePlanner;
import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * all-MiniLM-L6-v2 with every MatMul weight (attention projections and FFN) magnitude-pruned to 80%: the planner
 * runs them sparse, and the outputs equal the dense path's on the same pruned weights (1e-4 of the largest
 * magnitude), at batch 2 x 40 (SpMM; the feed-forward chain on one thread), 1 x 1 (the sparse GEMV), 1 x 7 and 2 x 9
 * (7 and 18 rows: row by row on the sliced layout), 3 x 300 (the chain on two threads too), on 1 and 2 threads.
 */
public class SparseMiniLmTest {
    /** The model with each 2-D float initializer that is a MatMul's B pruned to {@code sparsity} (per tensor). */
    public static byte[] prunedMiniLm(double sparsity) throws Exception {
        Onnx.ModelProto model;
        try (InputStream in = SparseMiniLmTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            model = Onnx.ModelProto.parseFrom(in.readAllBytes());
        }
        Set<String> weights = new HashSet<>();
        for (Onnx.NodeProto n : model.getGraph().getNodeList()) {
            if (n.getOpType().equals("MatMul") && n.getInputCount() == 2) {
                weights.add(n.getInput(1));
            }
        }
        Onnx.GraphProto.Builder g = model.getGraph().toBuilder();
        int pruned = 0;
        for (int i = 0; i < g.getInitializerCount(); i++) {
            Onnx.TensorProto t = g.getInitializer(i);
            if (!weights.contains(t.getName()) || t.getDimsCount() != 2 || t.getDataType() != Onnx.TensorProto.DataType.FLOAT_VALUE) {
                continue;
            }
            float[] v = values(t);
            float[] mags = new float[v.length];
            for (int j = 0; j < v.length; j++) {
                mags[j] = Math.abs(v[j]);
            }
            float[] sorted = mags.clone();
            Arrays.sort(sorted);
            float threshold = sorted[(int) Math.round(sparsity * v.length) - 1];
            ByteBuffer out = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int j = 0; j < v.length; j++) {
                out.putFloat(mags[j] <= threshold ? 0f : v[j]);
            }
            g.setInitializer(i, t.toBuilder().clearFloatData().setRawData(ByteString.copyFrom(out.array())).build());
            pruned++;
        }
        assertEquals(36, pruned, "MiniLM has 36 MatMul weights");
        return model.toBuilder().setGraph(g).build().toByteArray();
    }

    private static float[] values(Onnx.TensorProto t) {
        if (!t.getRawData().isEmpty()) {
            ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] v = new float[b.remaining() / 4];
            b.asFloatBuffer().get(v);
            return v;
        }
        float[] v = new float[t.getFloatDataCount()];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getFloatData(i);
        }
        return v;
    }

    /** Runs the model planned with {@code -Dgatun.sparse=mode}. */
    private static float[] run(Model m, String mode, int threads, Map<String, Tensor> inputs) {
        String saved = System.getProperty(SparsePlanner.PROPERTY);
        System.setProperty(SparsePlanner.PROPERTY, mode);
        try (Session s = m.newSession(SessionOptions.defaults().withThreads(threads)); Result r = s.run(inputs)) {
            return r.get(0).toFloatArray();
        } finally {
            if (saved == null) {
                System.clearProperty(SparsePlanner.PROPERTY);
            } else {
                System.setProperty(SparsePlanner.PROPERTY, saved);
            }
        }
    }

    private static Map<String, Tensor> inputs(Arena arena, int b, int s) {
        Random rnd = new Random(b * 100 + s);
        long[] ids = new long[b * s];
        long[] mask = new long[b * s];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(30522);
            mask[i] = i / s == 1 && i % s >= 30 ? 0 : 1;
        }
        return Map.of("input_ids", Tensor.ofLongs(arena, ids, b, s), "attention_mask", Tensor.ofLongs(arena, mask, b, s),
                "token_type_ids", Tensor.ofLongs(arena, new long[b * s], b, s));
    }

    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double max = 0;
        for (float v : want) {
            max = Math.max(max, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(want[i] - got[i]) <= 1e-4 * max)) {
                fail(what + " element " + i + ": " + got[i] + " sparse, " + want[i] + " dense");
            }
        }
    }

    @Test
    void prunedMiniLmRunsSparseWithTheDenseOutputs() throws Exception {
        byte[] bytes = prunedMiniLm(0.8);
        try (Model m = Model.load(bytes, "minilm-80.onnx"); Arena arena = Arena.ofShared()) {
            String saved = System.getProperty(SparsePlanner.PROPERTY);
            System.clearProperty(SparsePlanner.PROPERTY);
            List<KernelChoice> choices;
            try {
                choices = m.kernelChoices();
            } finally {
                if (saved != null) {
                    System.setProperty(SparsePlanner.PROPERTY, saved);
                }
            }
            // 24 FusedMatMuls and 6 FusedFeedForwards (the FFN's two weights: "W1 sparse ...; W2 sparse ...")
            assertEquals(30, choices.size(), choices.toString());
            int weights = 0;
            for (KernelChoice c : choices) {
                for (String part : c.kernel().split("; ")) {
                    assertTrue(part.replaceFirst("^W[12] ", "").startsWith("sparse CSR 80.0%"), c.toString());
                    weights++;
                }
            }
            assertEquals(36, weights, choices.toString());
            for (int[] shape : new int[][] {{2, 40}, {1, 1}, {1, 7}, {2, 9}, {3, 300}}) {
                Map<String, Tensor> in = inputs(arena, shape[0], shape[1]);
                float[] dense = run(m, "off", 1, in);
                for (int threads : new int[] {1, 2}) {
                    assertClose(dense, run(m, "force", threads, in), "force, " + threads + " threads, " + Arrays.toString(shape));
                    assertClose(dense, run(m, "auto", threads, in), "auto, " + threads + " threads, " + Arrays.toString(shape));
                }
            }
        }
    }
}
