package dev.gatun.engine.models;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.quant.QuantOptions;
import dev.gatun.engine.quant.Quantizer;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The accuracy bars for {@link Quantizer} on real-sized models (figures printed for the record):
 * <ul>
 *   <li>all-MiniLM-L6-v2 fp32, dynamic per-channel, every MatMul quantized: the mean-pooled sentence embeddings of
 *       100 random token sequences (lengths 8 to 128) against the fp32 model's: cosine >= 0.99 on average (>= 0.98
 *       each) with per-row activation scales (the default), >= 0.98 on average with one scale per tensor;</li>
 *   <li>the generated ResNet-18, static per-channel QDQ calibrated (min-max) on 32 random inputs, evaluated on 200
 *       other random inputs: random-weight logits differ far more between classes than between inputs, so the
 *       mean fp32 logits over the 200 inputs are subtracted from both models' logits; the cosine of those centred
 *       logits is >= 0.95 on average. Top-1 agreement is printed.</li>
 * </ul>
 */
class QuantizerAccuracyTest {
    @TempDir
    Path tmp;

    @Test
    void miniLmDynamicPerChannelKeepsSentenceEmbeddings() throws Exception {
        Path fp32 = QuantizedModelTest.extract(tmp, "all-minilm-l6-v2.onnx");
        // Every MatMul with a weight quantized; activations per row (the default) and per tensor (ONNX Runtime's
        // quantize_dynamic form, for the record: the GELU output's long positive tail, and the rows of outlier
        // tokens, leave one uint8 scale per tensor few steps for the bulk of the values).
        double[] rows = embeddingCosines(fp32, Quantizer.quantize(fp32, QuantOptions.dynamic(), null));
        double[] tensor = embeddingCosines(fp32, Quantizer.quantize(fp32, QuantOptions.dynamic().withPerRowActivations(false), null));
        System.out.printf(Locale.ROOT, "MiniLM dynamic per-channel, every MatMul quantized, mean-pooled embedding cosine over 100 random "
                + "sequences: per-row activations mean %.5f min %.5f; per-tensor activations mean %.5f min %.5f%n",
                rows[0], rows[1], tensor[0], tensor[1]);
        assertTrue(rows[0] >= 0.99 && rows[1] >= 0.98, "per-row activations: mean " + rows[0] + ", min " + rows[1]);
        assertTrue(tensor[0] >= 0.98, "per-tensor activations: mean cosine " + tensor[0]);
    }

    /** {mean, min} cosine of mean-pooled embeddings, quantized vs fp32, over 100 random sequences of 8 to 128 tokens. */
    private static double[] embeddingCosines(Path fp32, Quantizer.Quantized q) {
        Random rnd = new Random(42);
        double min = 1;
        double sum = 0;
        int n = 100;
        try (Model a = Model.load(fp32); Model b = q.load("minilm-int8"); Session sa = a.newSession(); Session sb = b.newSession()) {
            for (int s = 0; s < n; s++) {
                int len = 8 + rnd.nextInt(121);
                long[] ids = new long[len];
                long[] ones = new long[len];
                ids[0] = 101;
                ids[len - 1] = 102;
                for (int i = 1; i < len - 1; i++) {
                    ids[i] = 1000 + rnd.nextInt(29522);
                }
                java.util.Arrays.fill(ones, 1);
                try (Arena arena = Arena.ofConfined()) {
                    Map<String, Tensor> feed = Map.of("input_ids", Tensor.ofLongs(arena, ids, 1, len),
                            "attention_mask", Tensor.ofLongs(arena, ones, 1, len), "token_type_ids", Tensor.ofLongs(arena, new long[len], 1, len));
                    try (Result ra = sa.run(feed); Result rb = sb.run(feed)) {
                        double c = cosine(meanPool(ra.get(0).toFloatArray(), len), meanPool(rb.get(0).toFloatArray(), len));
                        min = Math.min(min, c);
                        sum += c;
                    }
                }
            }
        }
        return new double[] {sum / n, min};
    }

    @Test
    void resNet18StaticKeepsTheInputDependentLogits() throws Exception {
        Path fp32 = GeneratedModels.get("resnet18.onnx");
        QuantOptions o = QuantOptions.staticInt8().withCalibrationSamples(32).withSeed(1).withThreads(2);
        Quantizer.Quantized q = Quantizer.quantize(fp32, o, null);
        int inputs = 200;
        int batch = 8;
        int classes = 1000;
        float[][] ref = new float[inputs][];
        float[][] got = new float[inputs][];
        Random rnd = new Random(2);
        try (Model a = Model.load(fp32); Model b = q.load("resnet18-int8");
             Session sa = a.newSession(dev.gatun.engine.SessionOptions.defaults().withThreads(2));
             Session sb = b.newSession(dev.gatun.engine.SessionOptions.defaults().withThreads(2))) {
            for (int i0 = 0; i0 < inputs; i0 += batch) {
                float[] x = new float[batch * 3 * 224 * 224];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                try (Arena arena = Arena.ofShared()) {
                    Map<String, Tensor> feed = Map.of("input", Tensor.ofFloats(arena, x, batch, 3, 224, 224));
                    try (Result ra = sa.run(feed); Result rb = sb.run(feed)) {
                        float[] la = ra.get(0).toFloatArray();
                        float[] lb = rb.get(0).toFloatArray();
                        for (int k = 0; k < batch; k++) {
                            ref[i0 + k] = java.util.Arrays.copyOfRange(la, k * classes, (k + 1) * classes);
                            got[i0 + k] = java.util.Arrays.copyOfRange(lb, k * classes, (k + 1) * classes);
                        }
                    }
                }
            }
        }
        float[] mean = new float[classes];
        for (float[] r : ref) {
            for (int c = 0; c < classes; c++) {
                mean[c] += r[c] / inputs;
            }
        }
        double sum = 0;
        double min = 1;
        double raw = 0;
        int agree = 0;
        for (int i = 0; i < inputs; i++) {
            float[] cr = new float[classes];
            float[] cg = new float[classes];
            for (int c = 0; c < classes; c++) {
                cr[c] = ref[i][c] - mean[c];
                cg[c] = got[i][c] - mean[c];
            }
            double cos = cosine(cr, cg);
            sum += cos;
            min = Math.min(min, cos);
            raw += cosine(ref[i], got[i]);
            agree += argmax(ref[i]) == argmax(got[i]) ? 1 : 0;
        }
        System.out.printf(Locale.ROOT, "ResNet-18 static QDQ per-channel (32 calibration inputs, 200 evaluation inputs): centred-logit cosine "
                + "mean %.4f, min %.4f; raw logit cosine mean %.5f; top-1 agreement %d/%d%n", sum / inputs, min, raw / inputs, agree, inputs);
        assertTrue(sum / inputs >= 0.95, "mean centred cosine " + sum / inputs);
    }

    static float[] meanPool(float[] hidden, int len) {
        int d = hidden.length / len;
        float[] m = new float[d];
        for (int t = 0; t < len; t++) {
            for (int j = 0; j < d; j++) {
                m[j] += hidden[t * d + j] / len;
            }
        }
        return m;
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
