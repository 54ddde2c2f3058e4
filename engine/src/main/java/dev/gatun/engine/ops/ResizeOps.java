package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.DType.BFLOAT16;
import static dev.gatun.engine.tensor.DType.BOOL;
import static dev.gatun.engine.tensor.DType.DOUBLE;
import static dev.gatun.engine.tensor.DType.FLOAT;
import static dev.gatun.engine.tensor.DType.FLOAT16;
import static dev.gatun.engine.tensor.DType.INT16;
import static dev.gatun.engine.tensor.DType.INT32;
import static dev.gatun.engine.tensor.DType.INT64;
import static dev.gatun.engine.tensor.DType.INT8;
import static dev.gatun.engine.tensor.DType.UINT16;
import static dev.gatun.engine.tensor.DType.UINT32;
import static dev.gatun.engine.tensor.DType.UINT64;
import static dev.gatun.engine.tensor.DType.UINT8;

import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Resampling: https://onnx.ai/onnx/operators/onnx__Resize.html and https://onnx.ai/onnx/operators/onnx__Upsample.html.
 *
 * <p>Every resized axis maps output index {@code o} to an input coordinate {@code x} (coordinate_transformation_mode,
 * with {@code scale = out/in} from sizes or the scales given, and {@code outW = scale*in} as a real number):
 * half_pixel {@code (o+0.5)/scale-0.5}; half_pixel_symmetric the same shifted by {@code in/2*(1-out/outW)};
 * pytorch_half_pixel as half_pixel but {@code -0.5} when {@code outW == 1}; align_corners {@code o*(in-1)/(outW-1)};
 * asymmetric {@code o/scale}; tf_half_pixel_for_nn {@code (o+0.5)/scale}; tf_crop_and_resize
 * {@code roiStart*(in-1) + o*(roiEnd-roiStart)*(in-1)/(outW-1)}, extrapolation_value outside {@code [0, in-1]}.
 * With {@code x0 = floor(x)} and {@code r = x - x0} (r = 1 when x is whole, then the taps start one lower), the value
 * is {@code sum_j c_j(r) * X[clamp(x0 + 1 - n/2 + j)]} over n taps: nearest (one tap, by nearest_mode), linear
 * ({@code 1-r, r}), cubic (Keys kernel with cubic_coeff_a), or with antialias the linear/cubic kernel widened by
 * {@code 1/scale} when downsampling and normalised. exclude_outside zeroes taps outside the input and renormalises.
 * Several axes combine as the tensor product of these 1-D weights, computed here as one separable pass per axis
 * ({@code [outer, in, inner] -> [outer, out, inner]}, vectorised over inner), shrinking axes first. Nearest is one
 * gather pass of whole elements, so it is exact for every dtype.
 *
 * <p>Versions: Upsample 7 (scales attribute), 9 (scales input); Resize 10 (X, scales) behave as asymmetric with
 * ORT's legacy nearest rounding (floor, ceil when downsampling). Resize 11 adds roi, sizes and the attributes above;
 * 13 makes roi and scales optional; 18 adds antialias, axes and keep_aspect_ratio_policy; 19 half_pixel_symmetric.
 * float32 runs in float; float16/bfloat16 convert through float; double and integers compute in double (integers
 * rounded to nearest and saturated).
 */
public final class ResizeOps implements OpFamily {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static final DType[] TYPES = {FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8, UINT8, INT16, UINT16, INT32, UINT32,
            INT64, UINT64, BOOL};

    enum Mode { NEAREST, LINEAR, CUBIC }

    enum Coord { HALF_PIXEL, HALF_PIXEL_SYMMETRIC, PYTORCH_HALF_PIXEL, ALIGN_CORNERS, ASYMMETRIC, TF_HALF_PIXEL_FOR_NN, TF_CROP_AND_RESIZE }

    /** Rounding of nearest; LEGACY is Resize-10/Upsample's floor (ceil when the axis shrinks). */
    enum Nearest { ROUND_PREFER_FLOOR, ROUND_PREFER_CEIL, FLOOR, CEIL, LEGACY }

    enum Policy { STRETCH, NOT_LARGER, NOT_SMALLER }

    /** Everything read from a node at plan time; input positions are -1 when the version has no such input. */
    record Config(Mode mode, Coord coord, Nearest nearest, double cubicA, boolean excludeOutside, double extrapolation,
                  boolean antialias, long[] axes, Policy policy, int roiInput, int scalesInput, int sizesInput, float[] scalesAttr) {}

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("Resize", 10, TYPES), OpInfo.of("Upsample", 7, TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        DType dtype = node.requireType(0, TYPES);
        Config cfg = node.opType().equals("Upsample") ? planUpsample(node) : planResize(node);
        if (cfg.mode() != Mode.NEAREST && dtype == BOOL) {
            throw node.unsupported(cfg.mode() + " resize of bool");
        }
        if (cfg.scalesInput() >= 0 && node.hasInput(cfg.scalesInput())) {
            node.requireType(cfg.scalesInput(), FLOAT, DOUBLE, FLOAT16);
        }
        if (cfg.sizesInput() >= 0 && node.hasInput(cfg.sizesInput())) {
            node.requireType(cfg.sizesInput(), INT64);
        }
        if (cfg.roiInput() >= 0 && node.hasInput(cfg.roiInput())) {
            node.requireType(cfg.roiInput(), FLOAT, DOUBLE, FLOAT16);
        }
        return Planned.of((ctx, in) -> new Tensor[] {run(node, cfg, ctx, in)}, dtype);
    }

    private static Config planUpsample(NodeSpec node) {
        Mode mode = legacyMode(node);
        float[] scales = null;
        int scalesInput = -1;
        if (node.opset() < 9) {
            scales = node.attrs().getFloats("scales", null);
            if (scales == null) {
                throw node.unsupported("Upsample without a scales attribute");
            }
        } else {
            scalesInput = 1;
        }
        return new Config(mode, Coord.ASYMMETRIC, Nearest.LEGACY, -0.75, false, 0, false, null, Policy.STRETCH,
                -1, scalesInput, -1, scales);
    }

    private static Mode legacyMode(NodeSpec node) {
        String m = node.attrs().getString("mode", "nearest");
        return switch (m) {
            case "nearest" -> Mode.NEAREST;
            case "linear", "bilinear" -> Mode.LINEAR;
            default -> throw node.unsupported("mode '" + m + "'");
        };
    }

    private static Config planResize(NodeSpec node) {
        if (node.opset() < 11) {
            return new Config(legacyMode(node), Coord.ASYMMETRIC, Nearest.LEGACY, -0.75, false, 0, false, null,
                    Policy.STRETCH, -1, 1, -1, null);
        }
        Attributes a = node.attrs();
        String m = a.getString("mode", "nearest");
        Mode mode = switch (m) {
            case "nearest" -> Mode.NEAREST;
            case "linear" -> Mode.LINEAR;
            case "cubic" -> Mode.CUBIC;
            default -> throw node.unsupported("mode '" + m + "'");
        };
        String c = a.getString("coordinate_transformation_mode", "half_pixel");
        Coord coord = switch (c) {
            case "half_pixel" -> Coord.HALF_PIXEL;
            case "half_pixel_symmetric" -> Coord.HALF_PIXEL_SYMMETRIC;
            case "pytorch_half_pixel" -> Coord.PYTORCH_HALF_PIXEL;
            case "align_corners" -> Coord.ALIGN_CORNERS;
            case "asymmetric" -> Coord.ASYMMETRIC;
            case "tf_half_pixel_for_nn" -> Coord.TF_HALF_PIXEL_FOR_NN;
            case "tf_crop_and_resize" -> Coord.TF_CROP_AND_RESIZE;
            default -> throw node.unsupported("coordinate_transformation_mode '" + c + "'");
        };
        String n = a.getString("nearest_mode", "round_prefer_floor");
        Nearest nearest = switch (n) {
            case "round_prefer_floor" -> Nearest.ROUND_PREFER_FLOOR;
            case "round_prefer_ceil" -> Nearest.ROUND_PREFER_CEIL;
            case "floor" -> Nearest.FLOOR;
            case "ceil" -> Nearest.CEIL;
            default -> throw node.unsupported("nearest_mode '" + n + "'");
        };
        String p = a.getString("keep_aspect_ratio_policy", "stretch");
        Policy policy = switch (p) {
            case "stretch" -> Policy.STRETCH;
            case "not_larger" -> Policy.NOT_LARGER;
            case "not_smaller" -> Policy.NOT_SMALLER;
            default -> throw node.unsupported("keep_aspect_ratio_policy '" + p + "'");
        };
        long antialias = a.getInt("antialias", 0);
        long exclude = a.getInt("exclude_outside", 0);
        if ((antialias != 0 && antialias != 1) || (exclude != 0 && exclude != 1)) {
            throw node.unsupported("antialias " + antialias + " / exclude_outside " + exclude);
        }
        return new Config(mode, coord, nearest, a.getFloat("cubic_coeff_a", -0.75f), exclude == 1,
                a.getFloat("extrapolation_value", 0f), antialias == 1, a.getInts("axes", null), policy, 1, 2, 3, null);
    }

    // ---------------------------------------------------------------- run: shapes and per-axis tables

    private static Tensor run(NodeSpec node, Config cfg, KernelContext ctx, Tensor[] in) {
        Tensor x = in[0];
        Shape xs = x.shape();
        int r = xs.rank();
        int[] axes = axes(node, cfg.axes(), r);
        double[] roi = new double[2 * r];
        Arrays.fill(roi, r, 2 * r, 1.0);
        Tensor roiT = input(in, cfg.roiInput());
        if (roiT != null && cfg.coord() == Coord.TF_CROP_AND_RESIZE) {
            if (roiT.size() != 2L * axes.length) {
                throw node.error("roi of shape " + roiT.shape() + " does not hold 2 values per resized axis (" + axes.length + ")");
            }
            for (int i = 0; i < axes.length; i++) {
                roi[axes[i]] = roiT.getDouble(i);
                roi[r + axes[i]] = roiT.getDouble(axes.length + i);
            }
        } else if (cfg.coord() == Coord.TF_CROP_AND_RESIZE) {
            throw node.error("tf_crop_and_resize needs a roi input");
        }
        double[] scale = new double[r];
        double[] outW = new double[r];
        long[] out = xs.dims();
        Arrays.fill(scale, 1.0);
        Tensor sizesT = input(in, cfg.sizesInput());
        Tensor scalesT = input(in, cfg.scalesInput());
        if (sizesT != null && scalesT != null) {
            throw node.error("both scales " + scalesT.shape() + " and sizes " + sizesT.shape() + " are given; give only one");
        }
        if (sizesT != null) {
            long[] sizes = sizesT.toLongArray();
            if (sizes.length != axes.length) {
                throw node.error("sizes " + Arrays.toString(sizes) + " do not match the " + axes.length + " resized axes of input " + xs);
            }
            for (int i = 0; i < axes.length; i++) {
                if (sizes[i] < 0 || (sizes[i] > 0 && xs.dim(axes[i]) == 0)) {
                    throw node.error("sizes " + Arrays.toString(sizes) + " invalid for input " + xs);
                }
                scale[axes[i]] = (double) sizes[i] / xs.dim(axes[i]);
                out[axes[i]] = sizes[i];
            }
            if (cfg.policy() != Policy.STRETCH) {
                double s = cfg.policy() == Policy.NOT_LARGER ? Double.POSITIVE_INFINITY : 0;
                for (int a : axes) {
                    s = cfg.policy() == Policy.NOT_LARGER ? Math.min(s, scale[a]) : Math.max(s, scale[a]);
                }
                for (int a : axes) {
                    scale[a] = s;
                    out[a] = (long) (s * xs.dim(a) + 0.5);
                }
            }
            for (int a = 0; a < r; a++) {
                outW[a] = cfg.policy() == Policy.STRETCH ? out[a] : scale[a] * xs.dim(a);
            }
        } else {
            double[] sc;
            if (scalesT != null) {
                sc = new double[Math.toIntExact(scalesT.size())];
                for (int i = 0; i < sc.length; i++) {
                    sc[i] = scalesT.getDouble(i);
                }
            } else if (cfg.scalesAttr() != null) {
                sc = new double[cfg.scalesAttr().length];
                for (int i = 0; i < sc.length; i++) {
                    sc[i] = cfg.scalesAttr()[i];
                }
            } else {
                throw node.error("neither scales nor sizes is given");
            }
            if (sc.length != axes.length) {
                throw node.error("scales " + Arrays.toString(sc) + " do not match the " + axes.length + " resized axes of input " + xs);
            }
            for (int i = 0; i < axes.length; i++) {
                if (!(sc[i] > 0) || Double.isInfinite(sc[i])) {
                    throw node.error("scales " + Arrays.toString(sc) + " must be positive");
                }
                scale[axes[i]] = sc[i];
            }
            for (int a = 0; a < r; a++) {
                outW[a] = scale[a] * xs.dim(a);
                out[a] = (long) Math.floor(outW[a]);
            }
        }
        Shape os = Shape.of(out);
        Tensor y = ctx.allocate(x.dtype(), os);
        if (os.size() == 0) {
            return y;
        }
        if (cfg.mode() == Mode.NEAREST) {
            int[][] maps = new int[r][];
            for (int a = 0; a < r; a++) {
                maps[a] = nearestMap(cfg, Math.toIntExact(xs.dim(a)), Math.toIntExact(out[a]), scale[a], outW[a], roi[a], roi[r + a]);
            }
            gather(x, y, maps, cfg.extrapolation(), ctx);
            return y;
        }
        AxisMap[] maps = new AxisMap[r];
        for (int a = 0; a < r; a++) {
            maps[a] = AxisMap.of(cfg, Math.toIntExact(xs.dim(a)), Math.toIntExact(out[a]), scale[a], outW[a], roi[a], roi[r + a]);
        }
        interpolate(x, y, maps, cfg.extrapolation(), ctx);
        return y;
    }

    private static Tensor input(Tensor[] in, int i) {
        if (i < 0 || i >= in.length || in[i] == null || in[i].size() == 0) {
            return null;
        }
        return in[i];
    }

    private static int[] axes(NodeSpec node, long[] given, int r) {
        if (given == null) {
            int[] all = new int[r];
            for (int i = 0; i < r; i++) {
                all[i] = i;
            }
            return all;
        }
        int[] axes = new int[given.length];
        boolean[] seen = new boolean[r];
        for (int i = 0; i < given.length; i++) {
            long a = given[i] < 0 ? given[i] + r : given[i];
            if (a < 0 || a >= r || seen[(int) a]) {
                throw node.error("axes " + Arrays.toString(given) + " invalid for an input of rank " + r);
            }
            seen[(int) a] = true;
            axes[i] = (int) a;
        }
        return axes;
    }

    /** The input coordinate of output index {@code o}; NaN when tf_crop_and_resize puts it outside the input. */
    static double coordinate(Coord coord, int o, int in, int out, double scale, double outW, double roiStart, double roiEnd) {
        return switch (coord) {
            case HALF_PIXEL -> (o + 0.5) / scale - 0.5;
            case HALF_PIXEL_SYMMETRIC -> {
                double adjustment = out / outW;
                double center = in / 2.0;
                yield center * (1 - adjustment) + (o + 0.5) / scale - 0.5;
            }
            case PYTORCH_HALF_PIXEL -> outW == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
            case ALIGN_CORNERS -> outW == 1 ? 0 : o * (in - 1.0) / (outW - 1);
            case ASYMMETRIC -> o / scale;
            case TF_HALF_PIXEL_FOR_NN -> (o + 0.5) / scale;
            case TF_CROP_AND_RESIZE -> {
                double v = outW == 1
                        ? (roiEnd - roiStart) * (in - 1.0) / 2
                        : o * (roiEnd - roiStart) * (in - 1.0) / (outW - 1);
                v += roiStart * (in - 1.0);
                yield v < 0 || v > in - 1 ? Double.NaN : v;
            }
        };
    }

    /** Nearest: the input index of every output index along one axis, -1 where the value is extrapolated. */
    static int[] nearestMap(Config cfg, int in, int out, double scale, double outW, double roiStart, double roiEnd) {
        int[] m = new int[out];
        for (int o = 0; o < out; o++) {
            double x = coordinate(cfg.coord(), o, in, out, scale, outW, roiStart, roiEnd);
            if (Double.isNaN(x)) {
                m[o] = -1;
                continue;
            }
            double f = Math.floor(x);
            long i;
            if (x == f) {
                i = (long) f;
            } else {
                double ratio = x - f;
                boolean up = switch (cfg.nearest()) {
                    case ROUND_PREFER_FLOOR -> ratio > 0.5;
                    case ROUND_PREFER_CEIL -> ratio >= 0.5;
                    case FLOOR -> false;
                    case CEIL -> true;
                    case LEGACY -> scale < 1;
                };
                i = (long) f + (up ? 1 : 0);
            }
            m[o] = (int) Math.max(0, Math.min(in - 1L, i));
        }
        return m;
    }

    /** Linear or cubic weights along one axis: {@code taps} input indices and weights per output index. */
    record AxisMap(int in, int out, int taps, int[] idx, double[] w, boolean[] extrapolate, boolean identity) {
        static AxisMap of(Config cfg, int in, int out, double scale, double outW, double roiStart, double roiEnd) {
            int n = tapCount(cfg, scale);
            int[] idx = new int[out * n];
            double[] w = new double[out * n];
            boolean[] ex = new boolean[out];
            boolean identity = in == out;
            int pad = (n + 1) / 2;
            double[] c = new double[n];
            for (int o = 0; o < out; o++) {
                double x = coordinate(cfg.coord(), o, in, out, scale, outW, roiStart, roiEnd);
                if (Double.isNaN(x)) {
                    ex[o] = true;
                    identity = false;
                    continue;
                }
                double f = Math.floor(x);
                double ratio = x == f ? 1 : x - f;
                coefficients(cfg, ratio, scale, c);
                long start = (long) Math.ceil(x) - n / 2;
                start = Math.max(-pad, Math.min(in + pad - n, start));
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    long at = start + j;
                    if (cfg.excludeOutside() && (at < 0 || at >= in)) {
                        c[j] = 0;
                    }
                    sum += c[j];
                }
                for (int j = 0; j < n; j++) {
                    long at = start + j;
                    double wj = cfg.excludeOutside() ? c[j] / sum : c[j];
                    idx[o * n + j] = (int) Math.max(0, Math.min(in - 1L, at));
                    w[o * n + j] = wj;
                }
            }
            for (int o = 0; o < out && identity; o++) {
                double at = 0;
                for (int j = 0; j < n; j++) {
                    if (idx[o * n + j] == o) {
                        at += w[o * n + j];
                    } else if (Math.abs(w[o * n + j]) > 1e-12) {
                        identity = false;
                    }
                }
                identity &= Math.abs(at - 1) <= 1e-12;
            }
            return new AxisMap(in, out, n, idx, w, ex, identity);
        }
    }

    private static int tapCount(Config cfg, double scale) {
        double s = Math.min(scale, 1.0);
        if (cfg.antialias()) {
            return cfg.mode() == Mode.LINEAR ? 2 - 2 * (int) (Math.floor(-1 / s) + 1) : 2 - 2 * (int) (Math.floor(-2 / s) + 1);
        }
        return cfg.mode() == Mode.LINEAR ? 2 : 4;
    }

    /** The n weights for taps {@code x0+1-n/2 .. x0+n/2} at fraction {@code ratio} in (0, 1]. */
    static void coefficients(Config cfg, double ratio, double scale, double[] c) {
        double a = cfg.cubicA();
        if (!cfg.antialias()) {
            if (cfg.mode() == Mode.LINEAR) {
                c[0] = 1 - ratio;
                c[1] = ratio;
            } else {
                double r1 = ratio + 1;
                double q = 1 - ratio;
                double q1 = q + 1;
                c[0] = ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a;
                c[1] = ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1;
                c[2] = ((a + 2) * q - (a + 3)) * q * q + 1;
                c[3] = ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a;
            }
            return;
        }
        double s = Math.min(scale, 1.0);
        int n = c.length;
        int start = 1 - n / 2;
        double sum = 0;
        for (int j = 0; j < n; j++) {
            double t = Math.abs(s * (start + j - ratio));
            double v;
            if (cfg.mode() == Mode.LINEAR) {
                v = Math.max(0, 1 - t);
            } else if (t <= 1) {
                v = ((a + 2) * t - (a + 3)) * t * t + 1;
            } else if (t < 2) {
                v = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
            } else {
                v = 0;
            }
            c[j] = v;
            sum += v;
        }
        for (int j = 0; j < n; j++) {
            c[j] /= sum;
        }
    }

    // ---------------------------------------------------------------- nearest: one gather pass

    /** {@code y[o...] = x[maps[0][o0], maps[1][o1], ...]}, element bytes copied; extrapolated positions get {@code e}. */
    private static void gather(Tensor x, Tensor y, int[][] maps, double e, KernelContext ctx) {
        int r = maps.length;
        long[] xStride = x.shape().strides();
        int es = x.dtype().byteSize();
        Tensor ev = ctx.allocate(x.dtype(), Shape.of(1));
        ev.setDouble(0, e);
        long eBits = readBits(ev.data(), 0, es);
        MemorySegment xs = x.data();
        MemorySegment ys = y.data();
        if (r == 0) {
            MemorySegment.copy(xs, 0, ys, 0, es);
            return;
        }
        int[] last = maps[r - 1];
        long rows = y.size() / last.length;
        int inWidth = Math.toIntExact(x.shape().dim(r - 1));
        PoolOps.parallelRanges(ctx, rows, last.length, (from, to) -> gatherRows(xs, ys, maps, xStride, inWidth, es, eBits, from, to));
    }

    /** Output rows {@code [from, to)} of {@link #gather}; a row that reads the same input row as the previous one is copied. */
    private static void gatherRows(MemorySegment xs, MemorySegment ys, int[][] maps, long[] xStride, int inWidth, int es,
                                   long eBits, long from, long to) {
        int r = maps.length;
        int[] last = maps[r - 1];
        int width = last.length;
        int[] o = new int[r - 1];
        long rest = from;
        for (int d = r - 2; d >= 0; d--) {
            o[d] = (int) (rest % maps[d].length);
            rest /= maps[d].length;
        }
        long prevBase = Long.MIN_VALUE;
        boolean prevEx = false;
        long prevRow = -1;
        int[] src4 = es == 4 ? new int[inWidth] : null;
        int[] dst4 = es == 4 ? new int[width] : null;
        for (long row = from; row < to; row++) {
            long base = 0;
            boolean ex = false;
            for (int a = 0; a < r - 1; a++) {
                int i = maps[a][o[a]];
                ex |= i < 0;
                base += i * xStride[a];
            }
            long yAt = row * width;
            if (prevRow >= 0 && ex == prevEx && (ex || base == prevBase)) {
                MemorySegment.copy(ys, prevRow * width * es, ys, yAt * es, (long) width * es);
            } else if (es == 4 && !ex) {
                MemorySegment.copy(xs, Tensor.I32, base * 4, src4, 0, src4.length);
                for (int j = 0; j < width; j++) {
                    int i = last[j];
                    dst4[j] = i < 0 ? (int) eBits : src4[i];
                }
                MemorySegment.copy(dst4, 0, ys, Tensor.I32, yAt * 4, width);
            } else {
                for (int j = 0; j < width; j++) {
                    int i = last[j];
                    writeBits(ys, yAt + j, es, ex || i < 0 ? eBits : readBits(xs, base + i, es));
                }
            }
            prevRow = row;
            prevBase = base;
            prevEx = ex;
            for (int d = r - 2; d >= 0 && ++o[d] >= maps[d].length; d--) {
                o[d] = 0;
            }
        }
    }

    private static long readBits(MemorySegment s, long i, int es) {
        return switch (es) {
            case 1 -> s.get(Tensor.I8, i);
            case 2 -> s.getAtIndex(Tensor.I16, i);
            case 4 -> s.getAtIndex(Tensor.I32, i);
            default -> s.getAtIndex(Tensor.I64, i);
        };
    }

    private static void writeBits(MemorySegment s, long i, int es, long v) {
        switch (es) {
            case 1 -> s.set(Tensor.I8, i, (byte) v);
            case 2 -> s.setAtIndex(Tensor.I16, i, (short) v);
            case 4 -> s.setAtIndex(Tensor.I32, i, (int) v);
            default -> s.setAtIndex(Tensor.I64, i, v);
        }
    }

    // ---------------------------------------------------------------- linear / cubic: separable passes

    /** Runs one pass per non-identity axis, shrinking axes first. */
    private static void interpolate(Tensor x, Tensor y, AxisMap[] maps, double e, KernelContext ctx) {
        int r = maps.length;
        Integer[] order = new Integer[r];
        int passes = 0;
        for (int a = 0; a < r; a++) {
            if (!maps[a].identity()) {
                order[passes++] = a;
            }
        }
        Arrays.sort(order, 0, passes, (p, q) -> Double.compare(
                (double) maps[p].out() / maps[p].in(), (double) maps[q].out() / maps[q].in()));
        if (passes == 0) {
            MemorySegment.copy(x.data(), 0, y.data(), 0, x.byteSize());
            return;
        }
        long[] dims = x.shape().dims();
        DType t = x.dtype();
        if (t == FLOAT || t == FLOAT16 || t == BFLOAT16) {
            Tensor cur = t == FLOAT ? x : toFloat(x, ctx);
            for (int p = 0; p < passes; p++) {
                int a = order[p];
                dims[a] = maps[a].out();
                Tensor next = p == passes - 1 && t == FLOAT ? y : ctx.allocate(FLOAT, Shape.of(dims));
                long outer = Shape.of(dims).sizeOf(0, a);
                long inner = Shape.of(dims).sizeOf(a + 1, r);
                MemorySegment src = cur.data();
                MemorySegment dst = next.data();
                AxisMap m = maps[a];
                PoolOps.parallelRanges(ctx, outer, inner * m.out() * m.taps(),
                        (from, to) -> passF32(src, dst, from, to, inner, m, (float) e));
                cur = next;
            }
            if (t != FLOAT) {
                fromFloat(cur, y);
            }
            return;
        }
        double[] cur = new double[Math.toIntExact(x.size())];
        DoubleBuffers.read(x, 0, cur, cur.length);
        for (int p = 0; p < passes; p++) {
            int a = order[p];
            dims[a] = maps[a].out();
            double[] next = new double[Math.toIntExact(Shape.of(dims).size())];
            passF64(cur, next, Shape.of(dims).sizeOf(0, a), Shape.of(dims).sizeOf(a + 1, r), maps[a], e);
            cur = next;
        }
        DoubleBuffers.write(y, 0, cur, cur.length);
    }

    /** {@code dst[o, j, i] = sum_t w[j,t] * src[o, idx[j,t], i]} over float32 {@code [outer, in, inner] -> [outer, out, inner]},
     * for o in {@code [outerFrom, outerTo)}. */
    static void passF32(MemorySegment src, MemorySegment dst, long outerFrom, long outerTo, long inner, AxisMap m, float e) {
        int n = m.taps();
        float[] w = new float[m.w().length];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) m.w()[i];
        }
        int[] idx = m.idx();
        if (inner == 1) {
            float[] srcRow = new float[m.in()];
            float[] dstRow = new float[m.out()];
            for (long o = outerFrom; o < outerTo; o++) {
                MemorySegment.copy(src, Tensor.F32, o * m.in() * 4, srcRow, 0, srcRow.length);
                for (int j = 0; j < dstRow.length; j++) {
                    if (m.extrapolate()[j]) {
                        dstRow[j] = e;
                        continue;
                    }
                    float s = 0;
                    for (int t = j * n; t < j * n + n; t++) {
                        s += w[t] * srcRow[idx[t]];
                    }
                    dstRow[j] = s;
                }
                MemorySegment.copy(dstRow, 0, dst, Tensor.F32, o * m.out() * 4, dstRow.length);
            }
            return;
        }
        for (long o = outerFrom; o < outerTo; o++) {
            long sBase = o * m.in() * inner;
            long dBase = o * m.out() * inner;
            for (int j = 0; j < m.out(); j++) {
                long d = dBase + j * inner;
                if (m.extrapolate()[j]) {
                    for (long i = 0; i < inner; i++) {
                        dst.setAtIndex(Tensor.F32, d + i, e);
                    }
                    continue;
                }
                int t0 = j * n;
                long i = 0;
                for (; i <= inner - L; i += L) {
                    FloatVector acc = FloatVector.zero(SP);
                    for (int t = t0; t < t0 + n; t++) {
                        if (w[t] != 0f) {
                            FloatVector v = FloatVector.fromMemorySegment(SP, src, (sBase + idx[t] * inner + i) * 4, LE);
                            acc = v.fma(FloatVector.broadcast(SP, w[t]), acc);
                        }
                    }
                    acc.intoMemorySegment(dst, (d + i) * 4, LE);
                }
                for (; i < inner; i++) {
                    float s = 0;
                    for (int t = t0; t < t0 + n; t++) {
                        s += w[t] * src.getAtIndex(Tensor.F32, sBase + idx[t] * inner + i);
                    }
                    dst.setAtIndex(Tensor.F32, d + i, s);
                }
            }
        }
    }

    /** {@link #passF32} in double over heap arrays. */
    static void passF64(double[] src, double[] dst, long outer, long inner, AxisMap m, double e) {
        int n = m.taps();
        int in = (int) inner;
        for (int o = 0; o < outer; o++) {
            int sBase = o * m.in() * in;
            int dBase = o * m.out() * in;
            for (int j = 0; j < m.out(); j++) {
                int d = dBase + j * in;
                if (m.extrapolate()[j]) {
                    Arrays.fill(dst, d, d + in, e);
                    continue;
                }
                for (int i = 0; i < in; i++) {
                    double s = 0;
                    for (int t = j * n; t < j * n + n; t++) {
                        s += m.w()[t] * src[sBase + m.idx()[t] * in + i];
                    }
                    dst[d + i] = s;
                }
            }
        }
    }

    private static Tensor toFloat(Tensor x, KernelContext ctx) {
        Tensor f = ctx.allocate(FLOAT, x.shape());
        long n = x.size();
        boolean half = x.dtype() == FLOAT16;
        for (long i = 0; i < n; i++) {
            short b = x.data().getAtIndex(Tensor.I16, i);
            f.data().setAtIndex(Tensor.F32, i, half ? Float.float16ToFloat(b) : DType.bf16ToFloat(b));
        }
        return f;
    }

    private static void fromFloat(Tensor f, Tensor y) {
        long n = y.size();
        boolean half = y.dtype() == FLOAT16;
        for (long i = 0; i < n; i++) {
            float v = f.data().getAtIndex(Tensor.F32, i);
            y.data().setAtIndex(Tensor.I16, i, half ? Float.floatToFloat16(v) : DType.floatToBf16(v));
        }
    }
}
