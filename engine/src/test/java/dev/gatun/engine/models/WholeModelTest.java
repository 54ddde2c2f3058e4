package dev.gatun.engine.models;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.io.Compare;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whole models against ONNX Runtime: the same seeded random inputs to Gatun and to ORT (CPU, optimisation level
 * ALL), every output compared with {@link Compare}'s whole-model rule ({@code |a - e| <= 1e-4 * max|e| + 1e-3 * |e|}),
 * the rule {@code gatun verify} uses.
 * <ul>
 *   <li>all-MiniLM-L6-v2 fp32 (the langchain4j jar's resource), batch 2 x sequence 64: input_ids uniform in
 *       [0, 30522), attention_mask ones, token_type_ids zeros;</li>
 *   <li>ResNet-18 and MobileNetV2 with seeded random weights, batch 2, input N(0, 1): generated once into
 *       target/models by {@code <gatun.shared.dir>/models/make_models.py} (skipped when python3 or the script
 *       is missing).</li>
 * </ul>
 * ONNX Runtime runs first, so a failure in Gatun (an unsupported op, a wrong value) is the only way these fail.
 */
class WholeModelTest {

    @TempDir
    Path tmp;

    @Test
    void allMiniLmL6V2MatchesOnnxRuntime() throws Exception {
        Path model = tmp.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = WholeModelTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            Files.copy(in, model, StandardCopyOption.REPLACE_EXISTING);
        }
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(42);
            long[] ids = new long[2 * 64];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(30522);
            }
            long[] ones = new long[ids.length];
            java.util.Arrays.fill(ones, 1);
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            inputs.put("input_ids", Tensor.ofLongs(arena, ids, 2, 64));
            inputs.put("attention_mask", Tensor.ofLongs(arena, ones, 2, 64));
            inputs.put("token_type_ids", Tensor.ofLongs(arena, new long[ids.length], 2, 64));
            assertMatchesOnnxRuntime(model, inputs, arena);
        }
    }

    /**
     * The same inputs give the same bits on a session's first run (mostly interpreted code) and after 30 runs
     * (compiled): a kernel whose float results depend on the JIT state (reduceLanes(ADD)'s order did) made
     * MiniLM's output differ from process to process at batch 4 and above. Meaningful in a fresh JVM; in one
     * that already compiled the kernels it still checks that repeated runs agree.
     */
    @Test
    void allMiniLmL6V2GivesTheSameBitsColdAndWarm() throws Exception {
        Path model = tmp.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = WholeModelTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            Files.copy(in, model, StandardCopyOption.REPLACE_EXISTING);
        }
        try (Arena arena = Arena.ofShared(); Model m = Model.load(model); Session session = m.newSession()) {
            Random rnd = new Random(3);
            long[] ids = new long[4 * 48];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(30522);
            }
            long[] ones = new long[ids.length];
            java.util.Arrays.fill(ones, 1);
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            inputs.put("input_ids", Tensor.ofLongs(arena, ids, 4, 48));
            inputs.put("attention_mask", Tensor.ofLongs(arena, ones, 4, 48));
            inputs.put("token_type_ids", Tensor.ofLongs(arena, new long[ids.length], 4, 48));
            float[] first;
            try (Result r = session.run(inputs)) {
                first = r.get("last_hidden_state").toFloatArray();
            }
            for (int i = 0; i < 29; i++) {
                session.run(inputs).close();
            }
            try (Result r = session.run(inputs)) {
                float[] last = r.get("last_hidden_state").toFloatArray();
                for (int i = 0; i < first.length; i++) {
                    if (Float.floatToRawIntBits(first[i]) != Float.floatToRawIntBits(last[i])) {
                        fail("element " + i + ": first run " + first[i] + ", 31st run " + last[i]);
                    }
                }
            }
        }
    }

    @Test
    void resnet18MatchesOnnxRuntime() throws Exception {
        assertImageModelMatches(GeneratedModels.get("resnet18.onnx"));
    }

    @Test
    void mobilenetV2MatchesOnnxRuntime() throws Exception {
        assertImageModelMatches(GeneratedModels.get("mobilenet_v2.onnx"));
    }

    private static void assertImageModelMatches(Path model) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(7);
            float[] x = new float[2 * 3 * 224 * 224];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            assertMatchesOnnxRuntime(model, Map.of("input", Tensor.ofFloats(arena, x, 2, 3, 224, 224)), arena);
        }
    }

    /** Runs ORT, then Gatun, and asserts every output is within the whole-model tolerance. */
    static void assertMatchesOnnxRuntime(Path model, Map<String, Tensor> inputs, Arena arena) throws Exception {
        Map<String, Tensor> expected = OrtReference.run(model, inputs, arena);
        try (Model m = Model.load(model); Session session = m.newSession(); Result r = session.run(inputs)) {
            List<String> lines = new ArrayList<>();
            boolean pass = true;
            for (TensorInfo out : m.outputs()) {
                Tensor e = expected.get(out.name());
                assertNotNull(e, "ONNX Runtime has no output '" + out.name() + "'");
                Compare.Report rep = Compare.compare(out.name(), r.get(out.name()), e, Compare.Tolerance.defaultFor(e.dtype()));
                lines.add(rep.line());
                pass &= rep.pass();
            }
            System.out.println(m.name() + ":\n  " + String.join("\n  ", lines));
            assertTrue(pass, m.name() + " differs from ONNX Runtime:\n  " + String.join("\n  ", lines));
        }
    }

    @Test
    void inputsMatchTheDeclaredShapesOfTheModels() throws IOException {
        // Guards the inputs above against a changed model: names, dtypes and ranks as the tests feed them.
        Path model = tmp.resolve("m.onnx");
        try (InputStream in = WholeModelTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in);
            Files.copy(in, model);
        }
        try (Model m = Model.load(model)) {
            assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"), m.inputs().stream().map(TensorInfo::name).toList());
            for (TensorInfo t : m.inputs()) {
                assertEquals(DType.INT64, t.dtype());
                assertEquals(2, t.shape().rank());
                assertEquals(Shape.UNKNOWN, t.shape().dim(0));
            }
        }
    }
}
