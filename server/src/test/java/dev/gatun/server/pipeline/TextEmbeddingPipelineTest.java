package dev.gatun.server.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The text-embedding pipeline around all-MiniLM-L6-v2 run by Gatun, checked against ONNX Runtime on the same token
 * ids, and for sense (similar sentences closer than unrelated ones).
 */
class TextEmbeddingPipelineTest {
    @TempDir
    static Path dir;
    private static Path modelFile;
    private static Model model;
    private static Session session;
    private static Pipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        modelFile = dir.resolve("model.onnx");
        try (InputStream in = TextEmbeddingPipelineTest.class.getResourceAsStream(DefaultModel.MODEL_RESOURCE)) {
            assertNotNull(in, "the langchain4j MiniLM jar is not on the test class path");
            Files.copy(in, modelFile);
        }
        model = Model.load(modelFile);
        session = model.newSession();
        pipeline = DefaultModel.pipeline().bind(model.inputs(), model.outputs());
    }

    @AfterAll
    static void close() {
        session.close();
        model.close();
    }

    private static float[][] embed(List<String> texts) {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> in = pipeline.encode(texts, arena);
            try (Result r = session.run(in)) {
                Tensor e = pipeline.decode(r.asMap(), in, arena).get(TextEmbeddingPipeline.OUTPUT);
                return rows(e);
            }
        }
    }

    private static float[][] rows(Tensor e) {
        assertEquals(DType.FLOAT, e.dtype());
        int b = (int) e.shape().dim(0);
        int h = (int) e.shape().dim(1);
        float[] all = e.toFloatArray();
        float[][] out = new float[b][h];
        for (int i = 0; i < b; i++) {
            System.arraycopy(all, i * h, out[i], 0, h);
        }
        return out;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    @Test
    void helloWorldMatchesOnnxRuntimeOnTheSameTokenIds() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            List<String> texts = List.of("hello world", "A longer sentence, so that the first row is padded.");
            Map<String, Tensor> in = pipeline.encode(texts, arena);
            assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"), List.copyOf(in.keySet()));
            Tensor ids = in.get("input_ids");
            assertEquals(DType.INT64, ids.dtype());
            long[] first = new long[(int) ids.shape().dim(1)];
            MemorySegment.copy(ids.data(), Tensor.I64, 0, first, 0, first.length);
            assertArrayEquals(new long[] {101, 7592, 2088, 102}, java.util.Arrays.copyOf(first, 4));
            assertEquals(0, first[first.length - 1], "row 0 is padded");

            float[][] gatun;
            try (Result r = session.run(in)) {
                gatun = rows(pipeline.decode(r.asMap(), in, arena).get("embedding"));
            }
            float[][] ort = rows(pipeline.decode(ortRun(in, arena), in, arena).get("embedding"));
            assertEquals(384, gatun[0].length);
            for (int b = 0; b < texts.size(); b++) {
                assertEquals(1.0, dot(gatun[b], gatun[b]), 1e-5, "L2-normalised");
                for (int k = 0; k < 384; k++) {
                    assertEquals(ort[b][k], gatun[b][k], 2e-5, "row " + b + " dim " + k);
                }
            }
            // Padding does not change the embedding: "hello world" alone gives the same vector.
            float[] alone = embed(List.of("hello world"))[0];
            for (int k = 0; k < 384; k++) {
                assertEquals(alone[k], gatun[0][k], 2e-5);
            }
        }
    }

    /** ONNX Runtime's outputs for the same inputs, as Gatun tensors. */
    private static Map<String, Tensor> ortRun(Map<String, Tensor> in, Arena arena) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(modelFile.toString(), new OrtSession.SessionOptions())) {
            Map<String, OnnxTensor> feed = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : in.entrySet()) {
                feed.put(e.getKey(), OnnxTensor.createTensor(env, LongBuffer.wrap(e.getValue().toLongArray()), e.getValue().shape().dims()));
            }
            Map<String, Tensor> out = new LinkedHashMap<>();
            try (OrtSession.Result r = s.run(feed)) {
                for (var e : r) {
                    OnnxTensor t = (OnnxTensor) e.getValue();
                    float[] v = new float[(int) t.getInfo().getNumElements()];
                    t.getFloatBuffer().get(v);
                    out.put(e.getKey(), Tensor.ofFloats(arena, v, t.getInfo().getShape()));
                }
            } finally {
                feed.values().forEach(OnnxTensor::close);
            }
            return out;
        }
    }

    @Test
    void similarSentencesScoreHigher() {
        float[][] e = embed(List.of("A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome.",
                "A man is riding a horse."));
        double similar = dot(e[0], e[1]);
        double unrelated = dot(e[0], e[2]);
        assertTrue(similar > unrelated + 0.3, "cos(food, bread) = " + similar + ", cos(food, movie) = " + unrelated);
        assertTrue(dot(e[0], e[3]) > unrelated, "a man doing something is closer than a movie review");
    }

    @Test
    void modelWithoutTokenTypeIdsGetsOnlyWhatItDeclares() {
        List<TensorInfo> ins = List.of(new TensorInfo("input_ids", DType.INT32, dyn(-1, -1)),
                new TensorInfo("attention_mask", DType.INT64, dyn(-1, -1)));
        Pipeline p = DefaultModel.pipeline().bind(ins, model.outputs());
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> in = p.encode(List.of("hi"), arena);
            assertEquals(List.of("input_ids", "attention_mask"), List.copyOf(in.keySet()));
            assertEquals(DType.INT32, in.get("input_ids").dtype());
            assertArrayEquals(new long[] {101, 7632, 102}, in.get("input_ids").toLongArray());
        }
    }

    @Test
    void meanPoolingByHand() {
        // h [2, 3, 2]; row 0 keeps tokens 0 and 1, row 1 all three; no normalisation.
        TextEmbeddingPipeline p = new TextEmbeddingPipeline(DefaultModel.tokenizer(), 16, TextEmbeddingPipeline.Pooling.MEAN, false, null);
        try (Arena arena = Arena.ofConfined()) {
            Tensor h = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 100, 100, 1, 1, 2, 2, 3, 6}, 2, 3, 2);
            Tensor mask = Tensor.ofLongs(arena, new long[] {1, 1, 0, 1, 1, 1}, 2, 3);
            Tensor e = p.decode(Map.of("last_hidden_state", h), Map.of("attention_mask", mask), arena).get("embedding");
            assertArrayEquals(new float[] {2, 3, 2, 3}, e.toFloatArray(), 1e-6f);
            TextEmbeddingPipeline n = new TextEmbeddingPipeline(DefaultModel.tokenizer(), 16);
            Tensor en = n.decode(Map.of("last_hidden_state", h), Map.of("attention_mask", mask), arena).get("embedding");
            float s = (float) Math.sqrt(13);
            assertArrayEquals(new float[] {2 / s, 3 / s, 2 / s, 3 / s}, en.toFloatArray(), 1e-6f);
            // Without an attention mask, padding ids are left out.
            Tensor ids = Tensor.ofLongs(arena, new long[] {101, 102, 0, 101, 5, 102}, 2, 3);
            Tensor e2 = p.decode(Map.of("last_hidden_state", h), Map.of("input_ids", ids), arena).get("embedding");
            assertArrayEquals(e.toFloatArray(), e2.toFloatArray(), 1e-6f);
            TextEmbeddingPipeline cls = new TextEmbeddingPipeline(DefaultModel.tokenizer(), 16, TextEmbeddingPipeline.Pooling.CLS, false, null);
            assertArrayEquals(new float[] {1, 2, 1, 1}, cls.decode(Map.of("h", h), Map.of(), arena).get("embedding").toFloatArray());
        }
    }

    @Test
    void badItemsAndConfigurations() {
        try (Arena arena = Arena.ofConfined()) {
            Pipeline.PipelineException e = assertThrows(Pipeline.PipelineException.class,
                    () -> pipeline.encode(java.util.Arrays.asList("ok", null), arena));
            assertTrue(e.getMessage().contains("item 1"), e.getMessage());
            assertThrows(Pipeline.PipelineException.class, () -> pipeline.encode(List.of("ok", 3), arena));
            assertThrows(Pipeline.PipelineException.class, () -> pipeline.encode(List.of(), arena));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DefaultModel.pipeline()
                .bind(List.of(new TensorInfo("pixel_values", DType.FLOAT, null)), model.outputs()));
        assertTrue(e.getMessage().contains("pixel_values"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TextEmbeddingPipeline.fromConfig(dir, Map.of("max_lenght", 10)));
        assertTrue(e.getMessage().contains("max_lenght"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TextEmbeddingPipeline.fromConfig(dir, Map.of("pooling", "max")));
        assertThrows(java.io.UncheckedIOException.class, () -> TextEmbeddingPipeline.fromConfig(dir.resolve("no-such-folder"), Map.of()));
    }

    @Test
    void fromConfigReadsTheTokenizerNextToTheModel() throws Exception {
        try (InputStream in = getClass().getResourceAsStream(DefaultModel.TOKENIZER_RESOURCE)) {
            Files.copy(in, dir.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        TextEmbeddingPipeline p = TextEmbeddingPipeline.fromConfig(dir, Map.of("type", "text-embedding", "max_length", 8L));
        assertEquals(8, p.maxLength());
        assertEquals("text", p.rawInputName());
        assertEquals(String.class, p.itemType());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(Shape.of(1, 8), p.encode(List.of("one two three four five six seven eight"), arena).get("input_ids").shape());
        }
    }

    /** A declared shape; -1 marks an unknown dim. */
    private static Shape dyn(long... dims) {
        return Shape.symbolic(dims, new String[dims.length]);
    }
}
