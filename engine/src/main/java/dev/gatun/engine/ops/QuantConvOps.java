package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.ConvKernels;
import dev.gatun.engine.cpu.Igemm;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.LongFunction;

/**
 * Integer convolutions on {@link Igemm}: ConvInteger and QLinearConv.
 *
 * <ul>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__ConvInteger.html">ConvInteger</a> (10): X [N, C, D1..Dn]
 *       (u8/s8), W [M, C/group, k1..kn] (u8/s8), x_zero_point (scalar), w_zero_point (scalar or [M]) -> int32 Y
 *       {@code Y[n,m,o] = sum_{c,k} (X[n, g*C/group + c, o*s - padBegin + k*d] - xzp) * (W[m,c,k] - wzp_m)},
 *       input outside the image reading xzp (it contributes 0). Output size, pads and auto_pad as Conv.</li>
 *   <li><a href="https://onnx.ai/onnx/operators/onnx__QLinearConv.html">QLinearConv</a> (10): the same integer
 *       sum R plus the int32 bias B[m], then {@code y = saturate(rint(R * (x_scale * w_scale_m / y_scale)) + y_zp)}
 *       (multiplier as in {@link QuantGemmOps}, product in float64 like the ONNX reference); w_scale per tensor
 *       or per output channel; y typed like y_zero_point.</li>
 * </ul>
 *
 * <p>Algorithm, per image and group (1 to 3 spatial dims, seen as 3-D): X is transposed to channels-last
 * [D*H*W, C], so that an im2col row (one output position) is KD*KH*KW copies of C/group contiguous bytes
 * (or xzp bytes in the padding); rows are built for chunks of output positions (bounded scratch), multiplied by
 * the group's weights, reordered once to (kd, kh, kw, c) x M/group and packed for the integer kernel (at plan
 * time when W and w_zero_point are constants), and the int32 [positions, M/group] result is written out
 * channel-major (with the requantization for QLinearConv).
 */
public final class QuantConvOps implements OpFamily {
    private static final Set<String> AUTO_PADS = Set.of("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID");
    /** Most bytes of im2col rows one chunk builds. */
    private static final long COL_BYTES = 1L << 22;

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("ConvInteger", 10, QuantGemmOps.BYTES), OpInfo.of("QLinearConv", 10, QuantGemmOps.BYTES));
    }

    /** Attributes shared with Conv. */
    private record Attrs(String autoPad, long group, long[] kernelShape, long[] strides, long[] dilations, long[] pads) {}

    /** Which inputs hold what: ConvInteger (x 0, w 1, xzp 2, wzp 3) or QLinearConv (x 0, xzp 2, w 3, wzp 5, B 8). */
    private record Slots(int x, int xZp, int w, int wZp, int bias) {}

    private static final Slots CONV_INTEGER = new Slots(0, 2, 1, 3, -1);
    private static final Slots QLINEAR = new Slots(0, 2, 3, 5, 8);

    @Override
    public Planned plan(NodeSpec node) {
        boolean qlinear = switch (node.opType()) {
            case "ConvInteger" -> false;
            case "QLinearConv" -> true;
            default -> throw node.unsupported("operator " + node.opType());
        };
        Slots sl = qlinear ? QLINEAR : CONV_INTEGER;
        DType xt = node.requireType(sl.x, QuantGemmOps.BYTES);
        DType wt = node.requireType(sl.w, QuantGemmOps.BYTES);
        if (node.hasInput(sl.xZp)) {
            node.requireType(sl.xZp, xt);
        }
        if (node.hasInput(sl.wZp)) {
            node.requireType(sl.wZp, wt);
        }
        DType out = DType.INT32;
        if (qlinear) {
            DType st = node.requireType(1, DType.FLOAT);
            node.requireType(4, st);
            node.requireType(6, st);
            out = node.hasInput(7) ? node.requireType(7, QuantGemmOps.BYTES) : xt;
            if (node.hasInput(8)) {
                node.requireType(8, DType.INT32);
            }
        }
        Attrs a = attrs(node);
        Igemm.Kernel kernel = Igemm.defaultKernel();
        Igemm.Weights[] packed = prepack(node, sl, a, kernel);
        DType outType = out;
        return Planned.of((ctx, in) -> new Tensor[] {run(ctx, node, a, sl, in, packed, kernel, qlinear, outType)}, out);
    }

    private static Attrs attrs(NodeSpec node) {
        Attributes at = node.attrs();
        String autoPad = at.getString("auto_pad", "NOTSET");
        if (!AUTO_PADS.contains(autoPad)) {
            throw node.unsupported("auto_pad '" + autoPad + "'");
        }
        long group = at.getInt("group", 1);
        if (group < 1) {
            throw node.unsupported("group " + group);
        }
        long[] strides = at.getInts("strides", null);
        long[] dilations = at.getInts("dilations", null);
        long[] pads = at.getInts("pads", null);
        if ((strides != null && Arrays.stream(strides).anyMatch(v -> v < 1))
                || (dilations != null && Arrays.stream(dilations).anyMatch(v -> v < 1))
                || (pads != null && Arrays.stream(pads).anyMatch(v -> v < 0))) {
            throw node.unsupported("strides " + Arrays.toString(strides) + " / dilations " + Arrays.toString(dilations)
                    + " / pads " + Arrays.toString(pads) + " (strides and dilations must be >= 1, pads >= 0)");
        }
        return new Attrs(autoPad, group, at.getInts("kernel_shape", null), strides, dilations, pads);
    }

    private static long[] perDim(NodeSpec node, long[] v, int nd, long def, String name) {
        if (v == null) {
            long[] d = new long[nd];
            Arrays.fill(d, def);
            return d;
        }
        if (v.length != nd) {
            throw node.error(name + " " + Arrays.toString(v) + " has " + v.length + " entries for " + nd + " spatial dims");
        }
        return v;
    }

    /** Output size and begin pads, by Conv's rule (see {@link ConvOps}). */
    private static ConvKernels.Geometry geometry(NodeSpec node, Attrs a, Shape x, Shape w) {
        if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) {
            throw node.error("X " + x + " and W " + w + " must have the same rank, 3 to 5");
        }
        int nd = x.rank() - 2;
        long c = x.dim(1);
        long m = w.dim(0);
        if (c != w.dim(1) * a.group || m % a.group != 0) {
            throw node.error("X " + x + " and W " + w + " do not fit group " + a.group + " (need C = W[1] * group and M divisible by group)");
        }
        long[] k = Arrays.copyOfRange(w.dims(), 2, w.rank());
        if (a.kernelShape != null && !Arrays.equals(a.kernelShape, k)) {
            throw node.error("kernel_shape " + Arrays.toString(a.kernelShape) + " differs from W " + w);
        }
        long[] s = perDim(node, a.strides, nd, 1, "strides");
        long[] d = perDim(node, a.dilations, nd, 1, "dilations");
        long[] pads = a.pads == null ? new long[2 * nd] : a.pads;
        if (pads.length != 2 * nd) {
            throw node.error("pads " + Arrays.toString(pads) + " must have " + 2 * nd + " entries");
        }
        long[] in = Arrays.copyOfRange(x.dims(), 2, nd + 2);
        long[][] geo = ConvOps.outputAndPads(node, a.autoPad, in, k, s, d, pads, "X " + x);
        long[] out = geo[0];
        long[] pb = geo[1];
        return new ConvKernels.Geometry(x.dim(0), c, m, a.group, in, k, out, s, d, pb);
    }

    /** W's group g as the GEMM's B [KD*KH*KW*cg, mg], rows ordered (kd, kh, kw, c), packed. */
    private static Igemm.Weights packGroup(Igemm.Kernel kernel, LongFunction<MemorySegment> alloc, Tensor w, int grp, int mg,
                                           int cg, int kk, int[] zbAll) {
        int kc = kk * cg;
        MemorySegment reordered = alloc.apply((long) mg * kc);
        MemorySegment src = w.data();
        for (int j = 0; j < mg; j++) {
            long base = (long) (grp * mg + j) * kc;
            for (int c = 0; c < cg; c++) {
                for (int q = 0; q < kk; q++) {
                    reordered.set(ValueLayout.JAVA_BYTE, (long) j * kc + (long) q * cg + c, src.get(ValueLayout.JAVA_BYTE, base + (long) c * kk + q));
                }
            }
        }
        int[] zb = zbAll.length == 1 ? zbAll : Arrays.copyOfRange(zbAll, grp * mg, grp * mg + mg);
        return Igemm.pack(kernel, alloc, reordered, 0, 1, kc, w.dtype() == DType.UINT8, kc, mg, zb);
    }

    private static Igemm.Weights[] prepack(NodeSpec node, Slots sl, Attrs a, Igemm.Kernel kernel) {
        Tensor w = node.constant(sl.w);
        Tensor z = node.hasInput(sl.wZp) ? node.constant(sl.wZp) : null;
        if (w == null || w.shape().rank() < 3 || (node.hasInput(sl.wZp) && z == null)) {
            return null;
        }
        long m = w.shape().dim(0);
        if (m % a.group != 0 || (z != null && z.size() != 1 && z.size() != m)) {
            return null;
        }
        int[] zb = QuantGemmOps.zeroPoints(z);
        int mg = (int) (m / a.group);
        int cg = (int) w.shape().dim(1);
        int kk = (int) (w.size() / Math.max(1, m * cg));
        String detail = kernel.name() + ":" + a.group + ":" + Arrays.toString(zb);
        return node.prepack().get("qconv", w, detail, (Arena arena) -> {
            Igemm.Weights[] p = new Igemm.Weights[(int) a.group];
            for (int g = 0; g < p.length; g++) {
                p[g] = packGroup(kernel, bytes -> arena.allocate(bytes, 64), w, g, mg, cg, kk, zb);
            }
            return p;
        });
    }

    private static Tensor run(KernelContext ctx, NodeSpec node, Attrs a, Slots sl, Tensor[] in, Igemm.Weights[] packed,
                              Igemm.Kernel kernel, boolean qlinear, DType outType) {
        Tensor x = in[sl.x];
        Tensor w = in[sl.w];
        Tensor xZp = QuantGemmOps.input(in, sl.xZp);
        Tensor wZp = QuantGemmOps.input(in, sl.wZp);
        ConvKernels.Geometry g = geometry(node, a, x.shape(), w.shape());
        if (xZp != null && xZp.size() != 1) {
            throw node.error("x_zero_point " + xZp.shape() + " must be a scalar");
        }
        if (wZp != null && wZp.size() != 1 && wZp.size() != g.m()) {
            throw node.error("w_zero_point " + wZp.shape() + " must be a scalar or hold one value per output channel (" + g.m() + ")");
        }
        Tensor bias = qlinear ? QuantGemmOps.input(in, sl.bias) : null;
        if (bias != null && bias.size() != g.m()) {
            throw node.error("bias B " + bias.shape() + " must be [" + g.m() + "]");
        }
        double[] mult = qlinear ? QuantGemmOps.multipliers(node, in[1], in[4], in[6], (int) g.m()) : null;
        int yZp = qlinear && QuantGemmOps.input(in, 7) != null ? (int) in[7].getAsLong(0) : 0;
        long[] yDims = new long[x.shape().rank()];
        yDims[0] = g.n();
        yDims[1] = g.m();
        System.arraycopy(g.out(), 0, yDims, 2, g.out().length);
        Tensor y = ctx.allocate(outType, Shape.of(yDims));
        if (y.size() == 0) {
            return y;
        }
        ConvKernels.Geometry g3 = g.to3d();
        int c = (int) g.c();
        int cg = (int) (g.c() / g.group());
        int mg = (int) (g.m() / g.group());
        int kk = (int) Shape.of(g.k()).size();
        int kc = kk * cg;
        long inPix = Shape.of(g3.in()).size();
        long outPix = Shape.of(g3.out()).size();
        int[] zb = QuantGemmOps.zeroPoints(wZp);
        byte xz = xZp == null ? 0 : xZp.data().get(ValueLayout.JAVA_BYTE, 0);
        int za = xZp == null ? 0 : (int) xZp.getAsLong(0);
        boolean signed = x.dtype() == DType.INT8;
        int chunk = (int) Math.max(1, Math.min(outPix, COL_BYTES / Math.max(1, kc)));
        // The byte shuffling (transpose, im2col, the channel-major store) runs on heap arrays, where the JIT drops
        // the bounds checks; the GEMM reads and writes native scratch, one bulk copy each way.
        byte[] xt = new byte[Math.toIntExact(inPix * c)];
        byte[] colsH = new byte[chunk * kc];
        int[] accH = new int[chunk * mg];
        MemorySegment cols = ctx.allocate(DType.UINT8, Shape.of((long) chunk * kc)).data();
        MemorySegment acc = ctx.allocate(DType.INT32, Shape.of((long) chunk * mg)).data();
        for (long n = 0; n < g.n(); n++) {
            toChannelsLast(x.data(), n * c * inPix, c, (int) inPix, xt);
            for (int grp = 0; grp < g.group(); grp++) {
                Igemm.Weights wg = packed != null ? packed[grp] : packGroup(kernel, QuantGemmOps.scratch(ctx), w, grp, mg, cg, kk, zb);
                for (long p0 = 0; p0 < outPix; p0 += chunk) {
                    int rows = (int) Math.min(chunk, outPix - p0);
                    im2col(g3, xt, c, grp * cg, cg, xz, p0, rows, colsH);
                    MemorySegment.copy(colsH, 0, cols, ValueLayout.JAVA_BYTE, 0, rows * kc);
                    Igemm.gemm(ctx, rows, new Igemm.Lhs(cols, 0, kc, signed, za, null), wg, Igemm.Output.int32(acc, 0, mg));
                    MemorySegment.copy(acc, Tensor.I32, 0, accH, 0, rows * mg);
                    store(accH, rows, mg, y, (n * g.m() + (long) grp * mg) * outPix + p0, outPix, grp * mg, bias, mult, yZp);
                }
            }
        }
        return y;
    }

    /** x [c, pix] bytes (from element {@code off}) to xt [pix, c], in blocks of 64 positions (cache-sized). */
    private static void toChannelsLast(MemorySegment x, long off, int c, int pix, byte[] xt) {
        byte[] src = new byte[c * pix];
        MemorySegment.copy(x, ValueLayout.JAVA_BYTE, off, src, 0, src.length);
        for (int p0 = 0; p0 < pix; p0 += 64) {
            int p1 = Math.min(pix, p0 + 64);
            for (int ch = 0; ch < c; ch++) {
                int s = ch * pix;
                for (int p = p0; p < p1; p++) {
                    xt[p * c + ch] = src[s + p];
                }
            }
        }
    }

    /** Rows [p0, p0 + rows) of the im2col matrix of channels [c0, c0 + cg): row p = (kd, kh, kw, c) patch bytes. */
    private static void im2col(ConvKernels.Geometry g, byte[] xt, int c, int c0, int cg, byte xz, long p0, int rows, byte[] cols) {
        long[] in = g.in();
        long[] k = g.k();
        long[] out = g.out();
        int kc = (int) (k[0] * k[1] * k[2] * cg);
        for (int r = 0; r < rows; r++) {
            long p = p0 + r;
            long ow = p % out[2];
            long oh = (p / out[2]) % out[1];
            long od = p / (out[2] * out[1]);
            int dst = r * kc;
            for (long kd = 0; kd < k[0]; kd++) {
                long id = od * g.s()[0] - g.pb()[0] + kd * g.d()[0];
                for (long kh = 0; kh < k[1]; kh++) {
                    long ih = oh * g.s()[1] - g.pb()[1] + kh * g.d()[1];
                    for (long kw = 0; kw < k[2]; kw++, dst += cg) {
                        long iw = ow * g.s()[2] - g.pb()[2] + kw * g.d()[2];
                        if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2]) {
                            java.util.Arrays.fill(cols, dst, dst + cg, xz);
                        } else {
                            int src = (int) (((id * in[1] + ih) * in[2] + iw) * c + c0);
                            if (cg >= 32) {
                                System.arraycopy(xt, src, cols, dst, cg);
                            } else {
                                for (int q = 0; q < cg; q++) {
                                    cols[dst + q] = xt[src + q];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** acc [rows, mg] (int32) to y's channels m0.. at positions from {@code yOff}, stride {@code outPix} per channel. */
    private static void store(int[] acc, int rows, int mg, Tensor y, long yOff, long outPix, int m0, Tensor bias,
                              double[] mult, int yZp) {
        MemorySegment ys = y.data();
        if (mult == null) {
            int[] line = new int[rows];
            for (int j = 0; j < mg; j++) {
                for (int r = 0; r < rows; r++) {
                    line[r] = acc[r * mg + j];
                }
                MemorySegment.copy(line, 0, ys, Tensor.I32, (yOff + j * outPix) * 4, rows);
            }
            return;
        }
        int lo = QuantOps.qmin(y.dtype());
        int hi = QuantOps.qmax(y.dtype());
        byte[] line = new byte[rows];
        for (int j = 0; j < mg; j++) {
            int b = bias == null ? 0 : bias.getInt(m0 + j);
            double mj = mult[m0 + j];
            for (int r = 0; r < rows; r++) {
                double v = Math.rint((acc[r * mg + j] + b) * mj) + yZp;
                line[r] = (byte) Math.max(lo, Math.min(hi, v));
            }
            MemorySegment.copy(line, 0, ys, ValueLayout.JAVA_BYTE, yOff + j * outPix, rows);
        }
    }
}
