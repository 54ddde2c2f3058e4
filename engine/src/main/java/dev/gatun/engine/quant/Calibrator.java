package dev.gatun.engine.quant;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.TypeProto;
import dev.gatun.engine.onnx.proto.Onnx.ValueInfoProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Finds the range of float activation tensors by running the float model (on Gatun, with the tensors added as graph
 * outputs) over calibration samples. Min-max needs one pass; percentile and entropy a second one that fills a
 * {@value #BINS}-bin histogram per tensor over the range the first pass found.
 *
 * <ul>
 *   <li>min-max: [smallest, largest] value seen;</li>
 *   <li>percentile p: the histogram's (100 - p) / 2 % tails cut on each side;</li>
 *   <li>entropy: on the histogram of |x| over [0, max|x|], the threshold t at a bin edge minimising the KL divergence
 *       between the clipped distribution P (the tail folded into the last bin) and Q, P merged into
 *       {@value #QUANT_BINS} bins and expanded back over P's non-empty bins (the TensorRT / ONNX Runtime method);
 *       the range is [min, max] clipped to [-t, t].</li>
 * </ul>
 */
final class Calibrator {
    static final int BINS = 2048;
    static final int QUANT_BINS = 128;

    private Calibrator() {}

    /** The calibrated [min, max] of each of {@code tensors}. */
    static Ranges ranges(ModelProto model, String name, Set<String> graphInputs, List<String> tensors,
                         Function<List<TensorInfo>, List<Map<String, Tensor>>> sampler, QuantOptions o, Quantizer.Progress progress) {
        ModelProto.Builder b = model.toBuilder();
        Set<String> outputs = new HashSet<>();
        model.getGraph().getOutputList().forEach(v -> outputs.add(v.getName()));
        var g = b.getGraphBuilder();
        for (String t : tensors) {
            if (!graphInputs.contains(t) && !outputs.contains(t)) {
                g.addOutput(ValueInfoProto.newBuilder().setName(t).setType(TypeProto.newBuilder()
                        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(DType.FLOAT.onnxId()))));
            }
        }
        Map<String, float[]> minMax = new LinkedHashMap<>();
        for (String t : tensors) {
            minMax.put(t, new float[] {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY});
        }
        boolean histogram = o.method() != QuantOptions.Method.MINMAX;
        int passes = histogram ? 2 : 1;
        Map<String, long[]> hist = new LinkedHashMap<>();
        List<Map<String, Tensor>> samples;
        try (Model m = Model.load(b.build().toByteArray(), name + " (calibration)");
             Session s = m.newSession(SessionOptions.defaults().withThreads(o.threads()))) {
            samples = sampler.apply(m.inputs());
            for (int pass = 0; pass < passes; pass++) {
                String phase = pass == 0 ? "calibrating" : "histograms";
                for (int i = 0; i < samples.size(); i++) {
                    Map<String, Tensor> feed = samples.get(i);
                    try (Result r = s.run(feed)) {
                        for (String t : tensors) {
                            Tensor v = graphInputs.contains(t) ? feed.get(t) : r.get(t);
                            if (pass == 0) {
                                updateMinMax(v, minMax.get(t));
                            } else {
                                float[] mm = minMax.get(t);
                                long[] h = hist.computeIfAbsent(t, k -> new long[BINS]);
                                if (o.method() == QuantOptions.Method.ENTROPY) {
                                    addAbs(v, h, Math.max(Math.abs(mm[0]), Math.abs(mm[1])));
                                } else {
                                    add(v, h, mm[0], mm[1]);
                                }
                            }
                        }
                    }
                    if (progress != null) {
                        progress.update(phase, i + 1, samples.size());
                    }
                }
            }
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String t : tensors) {
            float[] mm = minMax.get(t);
            if (!(mm[0] <= mm[1])) {
                mm = new float[] {0, 0};
            }
            out.put(t, switch (o.method()) {
                case MINMAX -> mm;
                case PERCENTILE -> percentile(hist.get(t), mm[0], mm[1], o.percentile());
                case ENTROPY -> {
                    float t0 = entropyThreshold(hist.get(t), Math.max(Math.abs(mm[0]), Math.abs(mm[1])));
                    yield new float[] {Math.max(mm[0], -t0), Math.min(mm[1], t0)};
                }
            });
        }
        return new Ranges(out, samples.size());
    }

    /** Calibrated [min, max] per tensor, and how many samples were run. */
    record Ranges(Map<String, float[]> ranges, int samples) {}

    private static void updateMinMax(Tensor v, float[] mm) {
        MemorySegment d = v.data();
        float lo = mm[0];
        float hi = mm[1];
        for (long i = 0, n = v.size(); i < n; i++) {
            float x = d.getAtIndex(Tensor.F32, i);
            if (x < lo) {
                lo = x;
            }
            if (x > hi) {
                hi = x;
            }
        }
        mm[0] = lo;
        mm[1] = hi;
    }

    private static void add(Tensor v, long[] h, float lo, float hi) {
        MemorySegment d = v.data();
        double scale = hi > lo ? BINS / ((double) hi - lo) : 0;
        for (long i = 0, n = v.size(); i < n; i++) {
            int bin = (int) ((d.getAtIndex(Tensor.F32, i) - lo) * scale);
            h[Math.max(0, Math.min(BINS - 1, bin))]++;
        }
    }

    private static void addAbs(Tensor v, long[] h, float max) {
        MemorySegment d = v.data();
        double scale = max > 0 ? BINS / (double) max : 0;
        for (long i = 0, n = v.size(); i < n; i++) {
            int bin = (int) (Math.abs(d.getAtIndex(Tensor.F32, i)) * scale);
            h[Math.min(BINS - 1, bin)]++;
        }
    }

    /** The range holding {@code p}% of the histogram's values, cut evenly from both tails (at bin edges). */
    static float[] percentile(long[] h, float lo, float hi, double p) {
        long total = 0;
        for (long c : h) {
            total += c;
        }
        if (total == 0 || !(hi > lo)) {
            return new float[] {lo, hi};
        }
        double tail = total * (100 - p) / 200;
        double width = ((double) hi - lo) / BINS;
        int first = 0;
        long acc = 0;
        while (first < BINS - 1 && acc + h[first] <= tail) {
            acc += h[first++];
        }
        int last = BINS - 1;
        acc = 0;
        while (last > first && acc + h[last] <= tail) {
            acc += h[last--];
        }
        return new float[] {(float) (lo + first * width), (float) (lo + (last + 1) * width)};
    }

    /** The KL-optimal clipping threshold of a histogram of |x| over [0, max] (see the class comment). */
    static float entropyThreshold(long[] h, float max) {
        if (!(max > 0)) {
            return max;
        }
        double width = (double) max / BINS;
        double best = Double.POSITIVE_INFINITY;
        int bestI = BINS;
        double[] p = new double[BINS];
        double[] q = new double[BINS];
        for (int i = QUANT_BINS; i <= BINS; i++) {
            long outliers = 0;
            for (int j = i; j < BINS; j++) {
                outliers += h[j];
            }
            for (int j = 0; j < i; j++) {
                p[j] = h[j];
            }
            p[i - 1] += outliers;
            // Merge h[0, i) into QUANT_BINS bins and spread each back evenly over its non-empty source bins.
            for (int k = 0; k < QUANT_BINS; k++) {
                int s = (int) ((long) k * i / QUANT_BINS);
                int e = (int) ((long) (k + 1) * i / QUANT_BINS);
                double sum = 0;
                int nonzero = 0;
                for (int j = s; j < e; j++) {
                    sum += h[j];
                    if (h[j] != 0) {
                        nonzero++;
                    }
                }
                for (int j = s; j < e; j++) {
                    q[j] = h[j] == 0 || nonzero == 0 ? 0 : sum / nonzero;
                }
            }
            double kl = kl(p, q, i);
            if (kl < best) {
                best = kl;
                bestI = i;
            }
        }
        return (float) (bestI * width);
    }

    /** KL(P || Q) over the first n bins, both normalised; an empty Q bin where P has mass costs as if it held 1e-4. */
    private static double kl(double[] p, double[] q, int n) {
        double sp = 0;
        double sq = 0;
        for (int j = 0; j < n; j++) {
            sp += p[j];
            sq += q[j];
        }
        if (sp == 0 || sq == 0) {
            return Double.POSITIVE_INFINITY;
        }
        double kl = 0;
        for (int j = 0; j < n; j++) {
            if (p[j] > 0) {
                double pj = p[j] / sp;
                double qj = q[j] > 0 ? q[j] / sq : 1e-4 / sq;
                kl += pj * Math.log(pj / qj);
            }
        }
        return kl;
    }

    /** Tensors as a list without repeats, in order. */
    static List<String> distinct(List<String> names) {
        return new ArrayList<>(new java.util.LinkedHashSet<>(names));
    }
}
