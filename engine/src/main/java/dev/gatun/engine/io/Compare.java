package dev.gatun.engine.io;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Locale;

/**
 * Compares a model output with a reference (ONNX Runtime's) under the whole-model rule that {@code gatun verify}
 * and the whole-model tests share:
 * <pre>
 *   scale = max(max |e|, 1e-6)              over the reference output's finite elements
 *   ok(i) = |a_i - e_i| <= atol * scale + rtol * |e_i|
 * </pre>
 * with NaN matching only NaN and an infinity only the same infinity. The absolute term is relative to the output's
 * largest magnitude because fp32 rounding error in a deep model grows with the size of the values summed, not
 * with each element: a logit of 0.001 next to logits of 30 carries the error of the 30s. Defaults
 * ({@link Tolerance#defaultFor}): rtol 1e-3, atol 1e-4 for float and double; 1e-2 / 1e-3 for float16;
 * 2e-2 / 1e-2 for bfloat16. Integer and bool outputs must match exactly. Dtype and shape must be equal.
 */
public final class Compare {
    private static final double MIN_SCALE = 1e-6;

    private Compare() {}

    /**
     * Relative and scaled absolute tolerance.
     *
     * @param rtol allowed error relative to each reference element
     * @param atol allowed error relative to the output's largest reference magnitude
     */
    public record Tolerance(double rtol, double atol) {
        /** The fp32 whole-model default. */
        public static final Tolerance FP32 = new Tolerance(1e-3, 1e-4);

        public Tolerance {
            if (!(rtol >= 0) || !(atol >= 0)) {
                throw new IllegalArgumentException("tolerances must be >= 0, got rtol " + rtol + ", atol " + atol);
            }
        }

        /** The default for outputs of type {@code t}. */
        public static Tolerance defaultFor(DType t) {
            return switch (t) {
                case FLOAT16 -> new Tolerance(1e-2, 1e-3);
                case BFLOAT16 -> new Tolerance(2e-2, 1e-2);
                default -> FP32;
            };
        }

        /** The rule as one line, for help and reports. */
        public String rule() {
            return String.format(Locale.ROOT, "|a - e| <= %s * max|e| + %s * |e|", fmt(atol), fmt(rtol));
        }
    }

    /**
     * How one output compared.
     *
     * @param name     the output's name
     * @param pass     whether every element is within tolerance (and dtype and shape match)
     * @param problem  why it failed, null on pass
     * @param maxAbs   largest |a - e| over finite pairs
     * @param maxRel   largest |a - e| / |e| over elements with |e| >= 1e-3 * scale (near-zero elements excluded)
     * @param used     largest |a - e| / (atol * scale + rtol * |e|): the share of the tolerance used, <= 1 on pass
     * @param bad      elements outside tolerance
     * @param count    elements compared
     */
    public record Report(String name, DType dtype, Shape shape, boolean pass, String problem, double maxAbs, double maxRel,
                         double used, long bad, long count) {
        /** {@code name  float[2,1000]  max abs err 1.2e-06  max rel err 3.4e-07  2% of tolerance  ok}, or the failure. */
        public String line() {
            String head = name + "  " + dtype + (shape == null ? "" : shape.toString());
            if (problem != null && count == 0) {
                return head + "  FAIL: " + problem;
            }
            String errs = String.format(Locale.ROOT, "  max abs err %s  max rel err %s", fmt(maxAbs), fmt(maxRel));
            if (dtype != null && dtype.isFloating()) {
                errs += String.format(Locale.ROOT, "  %s of tolerance", percent(used));
            }
            return head + errs + (pass ? "  ok" : "  FAIL: " + problem);
        }
    }

    /** Compares {@code actual} with {@code expected} under {@code tol}. */
    public static Report compare(String name, Tensor actual, Tensor expected, Tolerance tol) {
        DType t = expected.dtype();
        if (actual.dtype() != t) {
            return new Report(name, actual.dtype(), actual.shape(), false, "dtype " + actual.dtype() + ", expected " + t,
                    0, 0, 0, 0, 0);
        }
        if (!actual.shape().equals(expected.shape())) {
            return new Report(name, t, actual.shape(), false, "shape " + actual.shape() + ", expected " + expected.shape(),
                    0, 0, 0, 0, 0);
        }
        long n = expected.size();
        if (t == DType.STRING) {
            return strings(name, actual, expected, n);
        }
        if (!t.isFloating()) {
            return exact(name, actual, expected, n);
        }
        double scale = 0;
        for (long i = 0; i < n; i++) {
            double e = Math.abs(expected.getDouble(i));
            if (Double.isFinite(e) && e > scale) {
                scale = e;
            }
        }
        scale = Math.max(scale, MIN_SCALE);
        double absTol = tol.atol() * scale;
        double relFloor = 1e-3 * scale;
        double maxAbs = 0;
        double maxRel = 0;
        double used = 0;
        long bad = 0;
        long first = -1;
        for (long i = 0; i < n; i++) {
            double a = actual.getDouble(i);
            double e = expected.getDouble(i);
            boolean ok;
            if (Double.isNaN(a) || Double.isNaN(e)) {
                ok = Double.isNaN(a) && Double.isNaN(e);
            } else if (Double.isInfinite(a) || Double.isInfinite(e)) {
                ok = a == e;
            } else {
                double d = Math.abs(a - e);
                double allowed = absTol + tol.rtol() * Math.abs(e);
                ok = d <= allowed;
                maxAbs = Math.max(maxAbs, d);
                if (Math.abs(e) >= relFloor) {
                    maxRel = Math.max(maxRel, d / Math.abs(e));
                }
                used = Math.max(used, allowed > 0 ? d / allowed : (d == 0 ? 0 : Double.POSITIVE_INFINITY));
            }
            if (!ok) {
                bad++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        String problem = bad == 0 ? null : bad + " of " + n + " values outside " + tol.rule() + "; first at "
                + index(expected.shape(), first) + ": got " + fmt(actual.getDouble(first)) + ", expected "
                + fmt(expected.getDouble(first));
        return new Report(name, t, expected.shape(), bad == 0, problem, maxAbs, maxRel, used, bad, n);
    }

    private static Report exact(String name, Tensor actual, Tensor expected, long n) {
        long bad = 0;
        long first = -1;
        double maxAbs = 0;
        double maxRel = 0;
        for (long i = 0; i < n; i++) {
            long a = actual.getAsLong(i);
            long e = expected.getAsLong(i);
            if (a != e) {
                double d = Math.abs((double) a - (double) e);
                maxAbs = Math.max(maxAbs, d);
                if (e != 0) {
                    maxRel = Math.max(maxRel, d / Math.abs((double) e));
                }
                bad++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        String problem = bad == 0 ? null : bad + " of " + n + " values differ (exact match required); first at "
                + index(expected.shape(), first) + ": got " + actual.getAsLong(first) + ", expected " + expected.getAsLong(first);
        return new Report(name, expected.dtype(), expected.shape(), bad == 0, problem, maxAbs, maxRel, bad == 0 ? 0 : 1, bad, n);
    }

    private static Report strings(String name, Tensor actual, Tensor expected, long n) {
        long bad = 0;
        long first = -1;
        for (int i = 0; i < n; i++) {
            if (!expected.strings()[i].equals(actual.strings()[i])) {
                bad++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        String problem = bad == 0 ? null : bad + " of " + n + " strings differ; first at " + index(expected.shape(), first)
                + ": got '" + actual.strings()[(int) first] + "', expected '" + expected.strings()[(int) first] + "'";
        return new Report(name, DType.STRING, expected.shape(), bad == 0, problem, 0, 0, 0, bad, n);
    }

    /** The multi-dimensional index {@code [0, 12]} of flat element {@code flat}. */
    static String index(Shape shape, long flat) {
        long[] strides = shape.strides();
        StringBuilder b = new StringBuilder("[");
        for (int d = 0; d < strides.length; d++) {
            b.append(d > 0 ? ", " : "").append(flat / strides[d]);
            flat %= strides[d];
        }
        return b.append(']').toString();
    }

    private static String percent(double used) {
        if (Double.isInfinite(used)) {
            return "inf%";
        }
        double p = used * 100;
        return p < 1 && p > 0 ? "<1%" : String.format(Locale.ROOT, "%.0f%%", p);
    }

    /** Short scientific or plain notation. */
    static String fmt(double v) {
        if (v == 0 || Double.isNaN(v) || Double.isInfinite(v)) {
            return v == 0 ? "0" : Double.toString(v);
        }
        double a = Math.abs(v);
        return a >= 1e-3 && a < 1e5 ? String.format(Locale.ROOT, "%.6g", v).replaceAll("\\.?0+$", "")
                : String.format(Locale.ROOT, "%.3g", v).replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e");
    }
}
