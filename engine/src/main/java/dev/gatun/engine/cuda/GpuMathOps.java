package dev.gatun.engine.cuda;

import static dev.gatun.engine.cuda.GpuOps.dev;
import static dev.gatun.engine.cuda.GpuOps.floats;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;

/**
 * GEMM-shaped and windowed ops on the GPU: MatMul, Gemm and Gatun's FusedMatMul through cuBLAS (batched by strides),
 * Conv / FusedConv (2-D, group 1 through im2col + cuBLAS + the bias/residual/activation epilogue kernel; depthwise
 * directly), MaxPool / AveragePool (2-D, floor mode), GlobalAveragePool and Reduce{Mean,Sum,Max,Min} over adjacent axes.
 */
final class GpuMathOps {
    private GpuMathOps() {}

    static GpuPlanned plan(NodeSpec node) {
        if (!floats(node)) {
            return reduceAxesInputIsInt(node) ? reduce(node) : null;
        }
        return switch (node.opType()) {
            case "MatMul" -> matmul(node, FusedOps.ACT_NONE, false, false);
            case "FusedMatMul" -> fusedMatMul(node);
            case "Gemm" -> gemm(node);
            case "Conv" -> conv(node, 0, 0, 0, false);
            case "FusedConv" -> fusedConv(node);
            case "MaxPool", "AveragePool" -> pool(node);
            case "GlobalAveragePool" -> globalAverage(node);
            case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin" -> reduce(node);
            default -> null;
        };
    }

    private static RuntimeException error(GpuContext ctx, String msg) {
        return new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": " + msg);
    }

    private static boolean reduceAxesInputIsInt(NodeSpec node) {
        return node.opType().startsWith("Reduce") && node.inputType(0) == DType.FLOAT && node.inputType(1) == DType.INT64;
    }

    private static int toInt(GpuContext ctx, long v) {
        if (v > Integer.MAX_VALUE) {
            throw error(ctx, "dimension " + v + " above cuBLAS's int range");
        }
        return (int) v;
    }

    private static GpuPlanned fusedMatMul(NodeSpec node) {
        String act = node.attrs().getString("activation", "");
        int code;
        try {
            code = FusedOps.activationCode(act);
        } catch (RuntimeException e) {
            return null;
        }
        return matmul(node, code, node.hasInput(2), node.hasInput(3));
    }

    /**
     * Y [..., M, N] = A [..., M, K] x B [..., K, N] (numpy batch broadcasting where one side is 2-D or both have the
     * same batch dims), then for FusedMatMul act(Y + bias) + residual in one epilogue kernel.
     */
    private static GpuPlanned matmul(NodeSpec node, int act, boolean bias, boolean residual) {
        if (!node.hasInput(0) || !node.hasInput(1)) {
            return null;
        }
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor a = dev(in[0]), b = dev(in[1]);
            Shape as = a.shape(), bs = b.shape();
            if (as.rank() < 2 || bs.rank() < 2) {
                throw error(ctx, "1-D MatMul operands " + as + " x " + bs + " are not supported on the GPU");
            }
            long m = as.dim(as.rank() - 2), k = as.dim(as.rank() - 1), n = bs.dim(bs.rank() - 1);
            if (bs.dim(bs.rank() - 2) != k) {
                throw error(ctx, "MatMul " + as + " x " + bs + ": inner dims differ");
            }
            long batchA = as.size() / Math.max(1, m * k), batchB = bs.size() / Math.max(1, k * n);
            long[] outDims;
            int batch;
            long sA, sB;
            long mm = m;
            if (bs.rank() == 2) {
                // fold A's batch into M: one GEMM
                outDims = as.dims();
                outDims[outDims.length - 1] = n;
                mm = m * batchA;
                batch = 1;
                sA = 0;
                sB = 0;
            } else if (as.rank() == 2) {
                outDims = bs.dims();
                outDims[outDims.length - 2] = m;
                batch = toInt(ctx, batchB);
                sA = 0;
                sB = k * n;
            } else {
                Shape ab = Shape.of(java.util.Arrays.copyOf(as.dims(), as.rank() - 2));
                Shape bb = Shape.of(java.util.Arrays.copyOf(bs.dims(), bs.rank() - 2));
                if (!ab.equals(bb)) {
                    throw error(ctx, "MatMul batch dims " + ab + " and " + bb + " differ (broadcast batches run on the CPU only)");
                }
                outDims = as.dims();
                outDims[outDims.length - 1] = n;
                batch = toInt(ctx, batchA);
                sA = m * k;
                sB = k * n;
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, Shape.of(outDims));
            if (y.size() == 0) {
                return new Object[] {y};
            }
            ctx.gemm(false, false, toInt(ctx, mm), toInt(ctx, n), toInt(ctx, k), 1f, a, 0, sA, b, 0, sB, 0f, y, mm * n, batch);
            DeviceTensor bv = bias ? dev(in[2]) : null;
            DeviceTensor rv = residual ? dev(in[3]) : null;
            if (bv != null && bv.size() != n) {
                throw error(ctx, "bias " + bv.shape() + " must have N=" + n + " elements");
            }
            if (rv != null && !rv.shape().equals(y.shape())) {
                throw error(ctx, "residual " + rv.shape() + " must have the output's shape " + y.shape());
            }
            if (bv != null || rv != null || act != FusedOps.ACT_NONE) {
                long rows = y.size() / n;
                ctx.launch("fused", "bias_act_rows_f32", y.size(), y, bv, rv, rows, n, act, 0f, 0f);
            }
            return new Object[] {y};
        });
    }

    /** Gemm: Y = alpha op(A) op(B) + beta C, A and B 2-D, C broadcast to [M, N]. */
    private static GpuPlanned gemm(NodeSpec node) {
        boolean ta = node.attrs().getInt("transA", 0) != 0, tb = node.attrs().getInt("transB", 0) != 0;
        float alpha = node.attrs().getFloat("alpha", 1f), beta = node.attrs().getFloat("beta", 1f);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor a = dev(in[0]), b = dev(in[1]);
            DeviceTensor c = in.length > 2 ? dev(in[2]) : null;
            if (a.shape().rank() != 2 || b.shape().rank() != 2) {
                throw error(ctx, "Gemm operands " + a.shape() + ", " + b.shape() + " must be 2-D");
            }
            long m = ta ? a.shape().dim(1) : a.shape().dim(0), k = ta ? a.shape().dim(0) : a.shape().dim(1);
            long n = tb ? b.shape().dim(0) : b.shape().dim(1);
            if ((tb ? b.shape().dim(1) : b.shape().dim(0)) != k) {
                throw error(ctx, "Gemm " + a.shape() + (ta ? "^T" : "") + " x " + b.shape() + (tb ? "^T" : "") + ": inner dims differ");
            }
            Shape out = Shape.of(m, n);
            DeviceTensor y = ctx.alloc(DType.FLOAT, out);
            if (y.size() == 0) {
                return new Object[] {y};
            }
            float bt = 0f;
            if (c != null && beta != 0f) {
                Shape bc = GpuOps.broadcast(ctx, out, c.shape());
                if (!bc.equals(out)) {
                    throw error(ctx, "C " + c.shape() + " does not broadcast to " + out);
                }
                if (c.shape().equals(out)) {
                    ctx.copy(c, y);
                } else {
                    ctx.launch("elementwise", "expand_f32", y.size(), c, y, y.size(), Bcast.of(out, c.shape(), null));
                }
                bt = beta;
            }
            ctx.gemm(ta, tb, toInt(ctx, m), toInt(ctx, n), toInt(ctx, k), alpha, a, 0, 0, b, 0, 0, bt, y, 0, 1);
            return new Object[] {y};
        });
    }

    private static GpuPlanned fusedConv(NodeSpec node) {
        String act = node.attrs().getString("activation", "");
        return switch (act) {
            case "" -> conv(node, 0, 0, 0, node.hasInput(3));
            case "Relu" -> conv(node, 1, 0, 0, node.hasInput(3));
            case "Clip" -> {
                float lo = node.attrs().getFloat("clip_min", Float.NEGATIVE_INFINITY);
                float hi = node.attrs().getFloat("clip_max", Float.POSITIVE_INFINITY);
                yield Float.isNaN(lo) || Float.isNaN(hi) ? null : conv(node, 4, lo, hi, node.hasInput(3));
            }
            default -> null;
        };
    }

    /** 2-D window geometry from Conv/Pool attributes (auto_pad NOTSET or VALID only). */
    record Window(long[] kernel, long[] pads, long[] strides, long[] dilations) {
        long out(int axis, long in) {
            long eff = dilations[axis] * (kernel[axis] - 1) + 1;
            return (in + pads[axis] + pads[axis + 2] - eff) / strides[axis] + 1;
        }
    }

    static Window window(NodeSpec node, long[] kernelFromWeights) {
        String autoPad = node.attrs().getString("auto_pad", "NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) {
            return null;
        }
        long[] k = node.attrs().getInts("kernel_shape", kernelFromWeights);
        if (k == null || k.length != 2) {
            return null;
        }
        long[] pads = autoPad.equals("VALID") ? new long[4] : node.attrs().getInts("pads", new long[4]);
        long[] strides = node.attrs().getInts("strides", new long[] {1, 1});
        long[] dil = node.attrs().getInts("dilations", new long[] {1, 1});
        if (pads.length != 4 || strides.length != 2 || dil.length != 2) {
            return null;
        }
        return new Window(k, pads, strides, dil);
    }

    private static GpuPlanned conv(NodeSpec node, int act, float lo, float hi, boolean hasZ) {
        Tensor w = node.constant(1);
        if (w == null || w.shape().rank() != 4 || node.inputCount() > 4) {
            return null;
        }
        long group = node.attrs().getInt("group", 1);
        long m = w.shape().dim(0), cg = w.shape().dim(1);
        Window win = window(node, new long[] {w.shape().dim(2), w.shape().dim(3)});
        if (win == null || win.kernel()[0] != w.shape().dim(2) || win.kernel()[1] != w.shape().dim(3)) {
            return null;
        }
        boolean depthwise = group > 1 && group == m && cg == 1;
        if (group != 1 && !depthwise) {
            return null;
        }
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]), wt = dev(in[1]);
            DeviceTensor bias = in.length > 2 ? dev(in[2]) : null;
            DeviceTensor z = hasZ ? dev(in[3]) : null;
            Shape xs = x.shape();
            if (xs.rank() != 4 || xs.dim(1) != cg * group) {
                throw error(ctx, "input " + xs + " does not match weights " + wt.shape() + " with group " + group);
            }
            long n = xs.dim(0), c = xs.dim(1), h = xs.dim(2), wd = xs.dim(3);
            long oh = win.out(0, h), ow = win.out(1, wd);
            if (oh < 1 || ow < 1) {
                throw error(ctx, "window larger than the padded input " + xs);
            }
            Shape out = Shape.of(n, m, oh, ow);
            if (z != null && !z.shape().equals(out)) {
                throw error(ctx, "Z " + z.shape() + " must have the output's shape " + out + " on the GPU");
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, out);
            int[] g = {(int) win.kernel()[0], (int) win.kernel()[1], (int) win.pads()[0], (int) win.pads()[1],
                (int) win.strides()[0], (int) win.strides()[1], (int) win.dilations()[0], (int) win.dilations()[1]};
            if (depthwise) {
                ctx.launch("conv", "depthwise_conv_f32", y.size(), x, wt, bias, z, y, (int) n, (int) c, (int) h, (int) wd,
                        g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], (int) oh, (int) ow, act, lo, hi);
                return new Object[] {y};
            }
            long ckk = c * g[0] * g[1];
            long p = oh * ow;
            boolean pointwise = g[0] == 1 && g[1] == 1 && g[2] == 0 && g[3] == 0 && g[4] == 1 && g[5] == 1
                    && win.pads()[2] == 0 && win.pads()[3] == 0;
            DeviceTensor col = x;
            if (!pointwise) {
                col = ctx.alloc(DType.FLOAT, Shape.of(n, ckk, p));
                for (long i = 0; i < n; i++) {
                    DeviceTensor xi = new DeviceTensor(DType.FLOAT, Shape.of(c, h, wd), x.at(i * c * h * wd), null);
                    DeviceTensor ci = new DeviceTensor(DType.FLOAT, Shape.of(ckk, p), col.at(i * ckk * p), null);
                    ctx.launch("conv", "im2col_f32", ckk * p, xi, ci, (int) c, (int) h, (int) wd, g[0], g[1], g[2], g[3], g[4],
                            g[5], g[6], g[7], (int) oh, (int) ow);
                }
            }
            // Y_n [M, P] = W [M, CKK] x col_n [CKK, P], batched over images (W repeated: stride 0)
            ctx.gemm(false, false, toInt(ctx, m), toInt(ctx, p), toInt(ctx, ckk), 1f, wt, 0, 0, col, 0, ckk * p, 0f, y, m * p,
                    toInt(ctx, n));
            if (bias != null || z != null || act != 0) {
                ctx.launch("conv", "bias_act_nchw_f32", y.size(), y, bias, z, n, m, p, act, lo, hi);
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned pool(NodeSpec node) {
        if (node.outputCount() != 1 || node.attrs().getInt("ceil_mode", 0) != 0 || node.attrs().getInt("storage_order", 0) != 0) {
            return null;
        }
        Window win = window(node, null);
        if (win == null) {
            return null;
        }
        boolean max = node.opType().equals("MaxPool");
        if (!max && node.attrs().has("dilations")) {
            long[] d = node.attrs().getInts("dilations", null);
            if (d[0] != 1 || d[1] != 1) {
                return null;
            }
        }
        int countPad = (int) node.attrs().getInt("count_include_pad", 0);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            Shape xs = x.shape();
            if (xs.rank() != 4) {
                throw error(ctx, "input " + xs + " is not NCHW");
            }
            long oh = win.out(0, xs.dim(2)), ow = win.out(1, xs.dim(3));
            if (oh < 1 || ow < 1) {
                throw error(ctx, "window larger than the padded input " + xs);
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, Shape.of(xs.dim(0), xs.dim(1), oh, ow));
            Object[] args = {x, y, xs.dim(0) * xs.dim(1), (int) xs.dim(2), (int) xs.dim(3), (int) win.kernel()[0],
                (int) win.kernel()[1], (int) win.pads()[0], (int) win.pads()[1], (int) win.strides()[0], (int) win.strides()[1],
                (int) win.dilations()[0], (int) win.dilations()[1], (int) oh, (int) ow};
            if (max) {
                ctx.launch("pool", "max_pool2d_f32", y.size(), args);
            } else {
                Object[] a2 = java.util.Arrays.copyOf(args, args.length + 1);
                a2[args.length] = countPad;
                ctx.launch("pool", "avg_pool2d_f32", y.size(), a2);
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned globalAverage(NodeSpec node) {
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            Shape xs = x.shape();
            if (xs.rank() < 3) {
                throw error(ctx, "input " + xs + " has no spatial dims");
            }
            long nc = xs.dim(0) * xs.dim(1);
            long[] out = xs.dims();
            for (int d = 2; d < out.length; d++) {
                out[d] = 1;
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, Shape.of(out));
            long r = nc == 0 ? 0 : xs.size() / nc;
            if (nc > 0) {
                ctx.launchRows("reduce", "reduce_mean_f32", nc, 256, 0, x, y, nc, r, 1L);
            }
            return new Object[] {y};
        });
    }

    /** Reduce over axes that are adjacent once sorted (keepdims either way); axes from the attribute or a constant input. */
    private static GpuPlanned reduce(NodeSpec node) {
        if (node.inputType(0) != DType.FLOAT || node.attrs().getInt("noop_with_empty_axes", 0) != 0) {
            return null;
        }
        long[] axes;
        if (node.hasInput(1)) {
            Tensor c = node.constant(1);
            if (c == null || c.dtype() != DType.INT64) {
                return null;
            }
            axes = new long[(int) c.size()];
            for (int i = 0; i < axes.length; i++) {
                axes[i] = c.data().getAtIndex(Tensor.I64, i);
            }
        } else {
            axes = node.attrs().getInts("axes", null);
        }
        boolean keep = node.attrs().getInt("keepdims", 1) != 0;
        String op = switch (node.opType()) {
            case "ReduceMean" -> "mean";
            case "ReduceSum" -> "sum";
            case "ReduceMax" -> "max";
            default -> "min";
        };
        long[] fixedAxes = axes;
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            int r = x.shape().rank();
            boolean[] red = new boolean[r];
            if (fixedAxes == null || fixedAxes.length == 0) {
                java.util.Arrays.fill(red, true);
            } else {
                for (long a : fixedAxes) {
                    int ax = (int) (a < 0 ? a + r : a);
                    if (ax < 0 || ax >= r) {
                        throw error(ctx, "axis " + a + " out of range for " + x.shape());
                    }
                    red[ax] = true;
                }
            }
            int first = -1, last = -1;
            for (int d = 0; d < r; d++) {
                if (red[d]) {
                    if (first < 0) {
                        first = d;
                    }
                    last = d;
                }
            }
            for (int d = Math.max(first, 0); d <= last; d++) {
                if (!red[d] && x.shape().dim(d) != 1) {
                    throw error(ctx, "axes " + java.util.Arrays.toString(fixedAxes) + " of " + x.shape()
                            + " are not adjacent (the GPU reduces one range of axes)");
                }
            }
            long outer = 1, rr = 1, inner = 1;
            for (int d = 0; d < r; d++) {
                long v = x.shape().dim(d);
                if (first >= 0 && d < first) {
                    outer *= v;
                } else if (first >= 0 && d <= last) {
                    rr *= v;
                } else {
                    inner *= v;
                }
            }
            java.util.List<Long> od = new java.util.ArrayList<>();
            for (int d = 0; d < r; d++) {
                if (!red[d]) {
                    od.add(x.shape().dim(d));
                } else if (keep) {
                    od.add(1L);
                }
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, Shape.of(od.stream().mapToLong(Long::longValue).toArray()));
            if (y.size() > 0) {
                if (rr == 0) {
                    throw error(ctx, "reducing an empty range");
                }
                if (inner == 1) {
                    ctx.launchRows("reduce", "reduce_" + op + "_f32", outer, 256, 0, x, y, outer, rr, 1L);
                } else {
                    ctx.launch("reduce", "reduce_" + op + "_f32", outer * inner, x, y, outer, rr, inner);
                }
            }
            return new Object[] {y};
        });
    }
}
