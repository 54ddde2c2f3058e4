package dev.gatun.engine.quant;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.passes.Optimizer;
import dev.gatun.engine.graph.passes.QdqFusion;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link QdqFusion} on QDQ models from {@link Quantizer}: the integer ops it puts in place, and the same results as
 * running the QDQ graph in float (the pass skipped) within quantization tolerance.
 */
class QdqFusionTest {
    private static final QuantOptions STATIC = QuantOptions.staticInt8().withCalibrationSamples(8).withDims(Map.of("batch", 2L));

    static List<String> fusedOps(byte[] model) {
        try (Arena arena = Arena.ofConfined()) {
            Graph g = OnnxLoader.load(model, "m", arena).graph();
            g = ConstantFolder.fold(g, arena, SessionOptions.DEFAULT_MAX_TENSOR_BYTES, true);
            return new QdqFusion(arena).apply(g).nodes().stream().map(Node::opType).toList();
        }
    }

    /** The model run with QdqFusion and with it skipped (QDQ dequantized and run in float). */
    static float[][] withAndWithout(byte[] model, Tensor x) {
        float[] fused = QuantizerTest.run(model, x);
        String before = System.getProperty("gatun.optimize.skip");
        System.setProperty("gatun.optimize.skip", "QdqFusion");
        try {
            return new float[][] {fused, QuantizerTest.run(model, x)};
        } finally {
            if (before == null) {
                System.clearProperty("gatun.optimize.skip");
            } else {
                System.setProperty("gatun.optimize.skip", before);
            }
        }
    }

    @Test
    void convsBecomeQLinearConvAndTheGemmQuantMatMul() {
        byte[] q = Quantizer.quantize(TestModels.cnn(3), "cnn", STATIC, null).bytes();
        List<String> ops = fusedOps(q);
        assertEquals(3, ops.stream().filter("QLinearConv"::equals).count(), ops.toString());
        assertEquals(1, ops.stream().filter("QuantMatMul"::equals).count(), ops.toString());
        assertFalse(ops.contains("Conv") || ops.contains("Gemm"), ops.toString());
        // What is left of QDQ: the input's QuantizeLinear, the DequantizeLinear of conv2's output (read by the
        // residual Add), the Add's relu re-quantized for conv3... and no DequantizeLinear of a weight.
        assertTrue(ops.stream().filter("DequantizeLinear"::equals).count() <= 3, ops.toString());
    }

    @Test
    void integerKernelsMatchTheQdqGraphRunInFloat() {
        for (long seed = 3; seed < 6; seed++) {
            byte[] q = Quantizer.quantize(TestModels.cnn(seed), "cnn", STATIC, null).bytes();
            try (Arena arena = Arena.ofShared()) {
                Tensor x = QuantizerTest.input(arena, seed * 31, 3, 3, 12, 12);
                float[][] r = withAndWithout(q, x);
                // Integer and float accumulation may round an output the other way (one quantization step).
                assertTrue(QuantizerTest.cosine(r[0], r[1]) > 0.9995, "cosine " + QuantizerTest.cosine(r[0], r[1]));
                for (int i = 0; i < r[0].length; i++) {
                    assertEquals(r[1][i], r[0][i], 0.03 * QuantizerTest.maxAbs(r[1]), "seed " + seed + ", element " + i);
                }
            }
        }
    }

    @Test
    void matMulsBecomeQuantMatMulWithTheirBias() {
        byte[] q = Quantizer.quantize(TestModels.mlp(17, 1), "mlp", STATIC, null).bytes();
        List<String> ops = fusedOps(q);
        assertEquals(3, ops.stream().filter("QuantMatMul"::equals).count(), ops.toString());
        assertFalse(ops.contains("MatMul") || ops.contains("Gemm") || ops.contains("Add"), ops.toString());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = QuantizerTest.input(arena, 2, 9, 24);
            float[][] r = withAndWithout(q, x);
            assertTrue(QuantizerTest.cosine(r[0], r[1]) > 0.9995);
        }
    }

    /** The node ops after folding and every default optimiser pass. */
    static List<String> optimizedOps(byte[] model) {
        try (Arena arena = Arena.ofConfined()) {
            Graph g = OnnxLoader.load(model, "m", arena).graph();
            g = ConstantFolder.fold(g, arena, SessionOptions.DEFAULT_MAX_TENSOR_BYTES, true);
            return new Optimizer(Optimizer.defaultPasses(arena)).run(g).nodes().stream().map(Node::opType).toList();
        }
    }

    @Test
    void dynamicAndStaticMatMulIntegerChainsFuseIntoQuantMatMul() {
        byte[] dynamic = Quantizer.quantize(TestModels.mlp(17, 1), "mlp", QuantOptions.dynamic().withPerRowActivations(false), null).bytes();
        List<String> ops = optimizedOps(dynamic);
        assertEquals(3, ops.stream().filter("QuantMatMul"::equals).count(), ops.toString());
        assertFalse(ops.contains("MatMulInteger") || ops.contains("Cast") || ops.contains("Mul"), ops.toString());
        for (int opset : new int[] {17, 18}) {
            // Per-row: each row quantization one DynamicQuantizeRows, each product one QuantMatMul; the three Casts
            // of the row zero points to int32 stay (M values each).
            byte[] rows = Quantizer.quantize(TestModels.mlp(opset, 1), "mlp", QuantOptions.dynamic(), null).bytes();
            ops = optimizedOps(rows);
            assertEquals(3, ops.stream().filter("QuantMatMul"::equals).count(), ops.toString());
            assertEquals(3, ops.stream().filter("DynamicQuantizeRows"::equals).count(), ops.toString());
            assertEquals(3, ops.stream().filter("Cast"::equals).count(), ops.toString());
            assertFalse(ops.contains("MatMulInteger") || ops.contains("Mul") || ops.contains("Sub") || ops.contains("Round"), ops.toString());
        }
        byte[] qop = Quantizer.quantize(TestModels.mlp(17, 1), "mlp", STATIC.withFormat(QuantOptions.Format.QOPERATOR), null).bytes();
        ops = optimizedOps(qop);
        assertEquals(3, ops.stream().filter("QuantMatMul"::equals).count(), ops.toString());
        assertFalse(ops.contains("MatMulInteger") || ops.contains("Cast"), ops.toString());
    }

    @Test
    void aModelWithoutQdqIsLeftAlone() {
        List<String> ops = fusedOps(TestModels.cnn(3));
        assertEquals(3, ops.stream().filter("Conv"::equals).count());
        assertFalse(ops.contains("QLinearConv"));
    }
}
