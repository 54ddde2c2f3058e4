package dev.gatun.engine.ops;

import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.Shape;
import java.util.Arrays;

/**
 * Window geometry shared by the pooling kernels of {@link PoolOps}: the attributes of a pooling node read once at
 * plan time ({@link Attrs}), and the geometry of one run over an input of shape {@code [N, C, D1..Dk]}.
 *
 * <p>Along spatial dim {@code i}, output position {@code o} reads the input positions
 * {@code o*stride - padBegin + t*dilation} for {@code t} in {@code [0, kernel)}; positions outside {@code [0, in)}
 * are padding. The output size follows ONNX:
 * <ul>
 *   <li>NOTSET: {@code out = floor_or_ceil((in + padBegin + padEnd - ((k-1)*d+1)) / s) + 1}; with ceil_mode, a last
 *       window that would start in the end padding is dropped ({@code (out-1)*s >= in + padBegin} gives {@code out-1}).</li>
 *   <li>SAME_UPPER / SAME_LOWER: {@code out = ceil(in / s)}, total padding {@code (out-1)*s + (k-1)*d+1 - in} split
 *       with the odd unit at the end (UPPER) or the beginning (LOWER).</li>
 *   <li>VALID: no padding, {@code out = floor((in - ((k-1)*d+1)) / s) + 1}.</li>
 * </ul>
 */
final class PoolGeometry {
    /** The pads rule of a pooling node. */
    enum AutoPad { NOTSET, SAME_UPPER, SAME_LOWER, VALID }

    /** Pooling attributes of one node, validated at plan time. Arrays have one entry per spatial dim. */
    record Attrs(int[] kernel, int[] strides, int[] dilations, int[] pads, AutoPad autoPad, boolean ceilMode) {
        int rank() {
            return kernel.length;
        }

        /**
         * Reads kernel_shape, strides, dilations, pads, auto_pad and ceil_mode.
         *
         * @throws dev.gatun.engine.EngineException naming the node for a missing or malformed attribute
         */
        static Attrs read(NodeSpec node) {
            Attributes a = node.attrs();
            long[] ks = a.getInts("kernel_shape", null);
            if (ks == null || ks.length == 0) {
                throw node.unsupported("a pooling node without kernel_shape");
            }
            int k = ks.length;
            int[] kernel = positive(node, "kernel_shape", ks, k);
            int[] strides = positive(node, "strides", a.getInts("strides", ones(k)), k);
            int[] dilations = positive(node, "dilations", a.getInts("dilations", ones(k)), k);
            long[] p = a.getInts("pads", new long[2 * k]);
            if (p.length != 2 * k) {
                throw node.unsupported("pads " + Arrays.toString(p) + " for a kernel of rank " + k + " (need " + 2 * k + " values)");
            }
            int[] pads = new int[2 * k];
            for (int i = 0; i < 2 * k; i++) {
                if (p[i] < 0 || p[i] > Integer.MAX_VALUE / 4) {
                    throw node.unsupported("pads " + Arrays.toString(p));
                }
                pads[i] = (int) p[i];
            }
            String ap = a.getString("auto_pad", "NOTSET");
            AutoPad autoPad = switch (ap) {
                case "NOTSET", "" -> AutoPad.NOTSET;
                case "SAME_UPPER" -> AutoPad.SAME_UPPER;
                case "SAME_LOWER" -> AutoPad.SAME_LOWER;
                case "VALID" -> AutoPad.VALID;
                default -> throw node.unsupported("auto_pad '" + ap + "'");
            };
            long ceil = a.getInt("ceil_mode", 0);
            if (ceil != 0 && ceil != 1) {
                throw node.unsupported("ceil_mode " + ceil);
            }
            return new Attrs(kernel, strides, dilations, pads, autoPad, ceil == 1);
        }

        private static long[] ones(int k) {
            long[] l = new long[k];
            Arrays.fill(l, 1);
            return l;
        }

        private static int[] positive(NodeSpec node, String name, long[] v, int k) {
            if (v.length != k) {
                throw node.unsupported(name + " " + Arrays.toString(v) + " for a kernel of rank " + k);
            }
            int[] r = new int[k];
            for (int i = 0; i < k; i++) {
                if (v[i] < 1 || v[i] > Integer.MAX_VALUE / 4) {
                    throw node.unsupported(name + " " + Arrays.toString(v));
                }
                r[i] = (int) v[i];
            }
            return r;
        }
    }

    final int rank;
    /** Batch times channels: the number of independent planes. */
    final long planes;
    final int[] in;
    final int[] out;
    final int[] kernel;
    final int[] stride;
    final int[] dilation;
    final int[] padBegin;
    final int[] padEnd;
    /** Input and output elements per plane. */
    final long inPlane;
    final long outPlane;

    private PoolGeometry(int rank, long planes, int[] in, int[] out, Attrs a, int[] padBegin, int[] padEnd) {
        this.rank = rank;
        this.planes = planes;
        this.in = in;
        this.out = out;
        this.kernel = a.kernel();
        this.stride = a.strides();
        this.dilation = a.dilations();
        this.padBegin = padBegin;
        this.padEnd = padEnd;
        long ip = 1;
        long op = 1;
        for (int i = 0; i < rank; i++) {
            ip *= in[i];
            op *= out[i];
        }
        this.inPlane = ip;
        this.outPlane = op;
    }

    /**
     * The geometry of a run over input shape {@code x}.
     *
     * @throws dev.gatun.engine.EngineException naming the node when the rank does not match the kernel or a window
     *     does not fit the (padded) input
     */
    static PoolGeometry of(NodeSpec node, Attrs a, Shape x) {
        int k = a.rank();
        if (x.rank() != k + 2) {
            throw node.error("input of shape " + x + " does not match kernel_shape " + Arrays.toString(a.kernel())
                    + " (expected rank " + (k + 2) + ")");
        }
        int[] in = new int[k];
        int[] out = new int[k];
        int[] pb = new int[k];
        int[] pe = new int[k];
        for (int i = 0; i < k; i++) {
            long d = x.dim(i + 2);
            if (d > Integer.MAX_VALUE / 4) {
                throw node.error("spatial dim " + d + " of input " + x + " is too large");
            }
            in[i] = (int) d;
            long ek = (a.kernel()[i] - 1L) * a.dilations()[i] + 1;
            int s = a.strides()[i];
            switch (a.autoPad()) {
                case SAME_UPPER, SAME_LOWER -> {
                    out[i] = (int) ((in[i] + s - 1L) / s);
                    long total = Math.max(0, (out[i] - 1L) * s + ek - in[i]);
                    int small = (int) (total / 2);
                    int big = (int) (total - small);
                    pb[i] = a.autoPad() == AutoPad.SAME_UPPER ? small : big;
                    pe[i] = a.autoPad() == AutoPad.SAME_UPPER ? big : small;
                }
                case VALID -> {
                    long span = in[i] - ek;
                    out[i] = span < 0 ? 0 : (int) (span / s + 1);
                }
                case NOTSET -> {
                    pb[i] = a.pads()[i];
                    pe[i] = a.pads()[i + k];
                    long span = in[i] + (long) pb[i] + pe[i] - ek;
                    long o = a.ceilMode() ? ceilDiv(span, s) + 1 : Math.floorDiv(span, s) + 1;
                    if (a.ceilMode() && (o - 1) * s >= in[i] + (long) pb[i]) {
                        o--;
                    }
                    out[i] = (int) Math.max(0, o);
                }
            }
            if (out[i] <= 0 && in[i] > 0) {
                throw node.error("kernel_shape " + Arrays.toString(a.kernel()) + " with dilations "
                        + Arrays.toString(a.dilations()) + " and pads " + Arrays.toString(a.pads())
                        + " does not fit input " + x);
            }
        }
        return new PoolGeometry(k, x.dim(0) * x.dim(1), in, out, a, pb, pe);
    }

    /** Taps in one window (the kernel's element count). */
    long kernelSize() {
        long n = 1;
        for (int k : kernel) {
            n *= k;
        }
        return n;
    }

    /** The output shape {@code [N, C, out...]}. */
    Shape outputShape(Shape x) {
        long[] d = new long[rank + 2];
        d[0] = x.dim(0);
        d[1] = x.dim(1);
        for (int i = 0; i < rank; i++) {
            d[i + 2] = out[i];
        }
        return Shape.of(d);
    }

    /** First tap of output position {@code o} along {@code dim} that lies inside the input. */
    int tapLo(int dim, int o) {
        long start = (long) o * stride[dim] - padBegin[dim];
        if (start >= 0) {
            return 0;
        }
        return (int) Math.min(kernel[dim], ceilDiv(-start, dilation[dim]));
    }

    /** One past the last tap of output position {@code o} along {@code dim} that lies inside the input. */
    int tapHi(int dim, int o) {
        long start = (long) o * stride[dim] - padBegin[dim];
        long last = in[dim] - 1L - start;
        if (last < 0) {
            return 0;
        }
        return (int) Math.min(kernel[dim], last / dilation[dim] + 1);
    }

    /** Input position of tap {@code t} of output position {@code o} along {@code dim}. */
    int pos(int dim, int o, int t) {
        return o * stride[dim] - padBegin[dim] + t * dilation[dim];
    }

    /**
     * Per output position along {@code dim}, how many taps an average divides by: taps inside the input, or with
     * {@code includePad} also those in the explicit (or auto) padding, never those beyond it that ceil_mode adds.
     */
    int[] counts(int dim, boolean includePad) {
        int[] c = new int[out[dim]];
        for (int o = 0; o < c.length; o++) {
            if (includePad) {
                int n = 0;
                for (int t = 0; t < kernel[dim]; t++) {
                    int p = pos(dim, o, t);
                    if (p >= -padBegin[dim] && p < in[dim] + padEnd[dim]) {
                        n++;
                    }
                }
                c[o] = n;
            } else {
                c[o] = Math.max(0, tapHi(dim, o) - tapLo(dim, o));
            }
        }
        return c;
    }

    static long ceilDiv(long a, long b) {
        return -Math.floorDiv(-a, b);
    }
}
