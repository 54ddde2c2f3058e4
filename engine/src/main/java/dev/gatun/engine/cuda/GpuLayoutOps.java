package dev.gatun.engine.cuda;

import static dev.gatun.engine.cuda.GpuOps.dev;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;

/**
 * Layout ops on the GPU: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity: no copy, the output shares the
 * input's memory), Shape (on the host, from the input's shape), Transpose (strided copy), Gather, Concat and Cast.
 * Shape-carrying inputs (Reshape's shape, Squeeze/Unsqueeze axes) are read on the host.
 */
final class GpuLayoutOps {
    private GpuLayoutOps() {}

    static GpuPlanned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Identity" -> GpuPlanned.of((ctx, in) -> new Object[] {in[0]});
            case "Reshape" -> reshape(node);
            case "Flatten" -> flatten(node);
            case "Squeeze", "Unsqueeze" -> squeeze(node);
            case "Shape" -> shape(node);
            case "Transpose" -> transpose(node);
            case "Gather" -> gather(node);
            case "Concat" -> concat(node);
            case "Cast" -> cast(node);
            default -> null;
        };
    }

    private static RuntimeException error(GpuContext ctx, String msg) {
        return new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": " + msg);
    }

    private static long[] longs(Tensor t) {
        long[] v = new long[(int) t.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.dtype() == DType.INT64 ? t.data().getAtIndex(Tensor.I64, i) : t.data().getAtIndex(Tensor.I32, i);
        }
        return v;
    }

    private static GpuPlanned reshape(NodeSpec node) {
        if (!node.hasInput(1) || (node.inputType(1) != DType.INT64)) {
            return null;
        }
        boolean allowZero = node.attrs().getInt("allowzero", 0) != 0;
        return GpuPlanned.host((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            long[] want = longs((Tensor) in[1]);
            long known = 1;
            int infer = -1;
            for (int i = 0; i < want.length; i++) {
                if (want[i] == 0 && !allowZero) {
                    if (i >= x.shape().rank()) {
                        throw error(ctx, "shape " + java.util.Arrays.toString(want) + " copies dim " + i + " of " + x.shape());
                    }
                    want[i] = x.shape().dim(i);
                }
                if (want[i] == -1) {
                    if (infer >= 0) {
                        throw error(ctx, "shape " + java.util.Arrays.toString(want) + " has two -1");
                    }
                    infer = i;
                } else if (want[i] < 0) {
                    throw error(ctx, "negative dim in shape " + java.util.Arrays.toString(want));
                } else {
                    known *= want[i];
                }
            }
            if (infer >= 0) {
                if (known == 0 || x.size() % known != 0) {
                    throw error(ctx, "cannot reshape " + x.shape() + " to " + java.util.Arrays.toString(want));
                }
                want[infer] = x.size() / known;
            }
            Shape s = Shape.of(want);
            if (s.size() != x.size()) {
                throw error(ctx, "cannot reshape " + x.shape() + " (" + x.size() + " elements) to " + s);
            }
            return new Object[] {x.reshape(s)};
        }, 1);
    }

    private static GpuPlanned flatten(NodeSpec node) {
        long axis = node.attrs().getInt("axis", 1);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            int r = x.shape().rank();
            int a = (int) (axis < 0 ? axis + r : axis);
            if (a < 0 || a > r) {
                throw error(ctx, "axis " + axis + " out of range for rank " + r);
            }
            long outer = 1;
            for (int d = 0; d < a; d++) {
                outer *= x.shape().dim(d);
            }
            long inner = 1;
            for (int d = a; d < r; d++) {
                inner *= x.shape().dim(d);
            }
            return new Object[] {x.reshape(Shape.of(outer, inner))};
        });
    }

    private static GpuPlanned squeeze(NodeSpec node) {
        boolean unsq = node.opType().equals("Unsqueeze");
        boolean axesInput = node.opset() >= 13;
        long[] attrAxes = axesInput ? null : node.attrs().getInts("axes", null);
        if (axesInput && node.hasInput(1) && node.inputType(1) != DType.INT64) {
            return null;
        }
        GpuKernel k = (ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            long[] axes = axesInput ? (in.length > 1 && in[1] != null ? longs((Tensor) in[1]) : null) : attrAxes;
            long[] dims = x.shape().dims();
            if (unsq) {
                if (axes == null) {
                    throw error(ctx, "Unsqueeze without axes");
                }
                int r = dims.length + axes.length;
                boolean[] ins = new boolean[r];
                for (long a : axes) {
                    int ax = (int) (a < 0 ? a + r : a);
                    if (ax < 0 || ax >= r || ins[ax]) {
                        throw error(ctx, "axes " + java.util.Arrays.toString(axes) + " invalid for output rank " + r);
                    }
                    ins[ax] = true;
                }
                long[] out = new long[r];
                for (int d = 0, j = 0; d < r; d++) {
                    out[d] = ins[d] ? 1 : dims[j++];
                }
                return new Object[] {x.reshape(Shape.of(out))};
            }
            boolean[] drop = new boolean[dims.length];
            if (axes == null) {
                for (int d = 0; d < dims.length; d++) {
                    drop[d] = dims[d] == 1;
                }
            } else {
                for (long a : axes) {
                    int ax = (int) (a < 0 ? a + dims.length : a);
                    if (ax < 0 || ax >= dims.length || dims[ax] != 1) {
                        throw error(ctx, "cannot squeeze axis " + a + " of " + x.shape());
                    }
                    drop[ax] = true;
                }
            }
            long[] out = java.util.stream.IntStream.range(0, dims.length).filter(d -> !drop[d]).mapToLong(d -> dims[d]).toArray();
            return new Object[] {x.reshape(Shape.of(out))};
        };
        return axesInput ? GpuPlanned.host(k, 1) : GpuPlanned.of(k);
    }

    private static GpuPlanned shape(NodeSpec node) {
        long start = node.attrs().getInt("start", 0);
        long end = node.attrs().getInt("end", Long.MAX_VALUE);
        return GpuPlanned.of((ctx, in) -> {
            long[] dims = (in[0] instanceof DeviceTensor d ? d.shape() : ((Tensor) in[0]).shape()).dims();
            int r = dims.length;
            int s = (int) Math.clamp(start < 0 ? start + r : start, 0, r);
            int e = (int) Math.clamp(end < 0 ? end + r : end, 0, r);
            int n = Math.max(0, e - s);
            Tensor t = ctx.hostAllocate(DType.INT64, Shape.of(n));
            for (int i = 0; i < n; i++) {
                t.data().setAtIndex(Tensor.I64, i, dims[s + i]);
            }
            return new Object[] {t};
        });
    }

    /** The strided-copy kernel for an element size, or null. */
    static String stridedKernel(DType t) {
        return switch (t.byteSize()) {
            case 4 -> "strided_copy_f32";
            case 8 -> "strided_copy_i64";
            case 1 -> "strided_copy_u8";
            default -> null;
        };
    }

    private static GpuPlanned transpose(NodeSpec node) {
        if (node.inputType(0) == null || node.inputType(0) == DType.STRING || stridedKernel(node.inputType(0)) == null) {
            return null;
        }
        long[] perm = node.attrs().getInts("perm", null);
        String k = stridedKernel(node.inputType(0));
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            int r = x.shape().rank();
            if (r > Bcast.MAX_RANK) {
                throw error(ctx, "rank " + r + " above the GPU kernels' 6");
            }
            long[] p = perm;
            if (p == null) {
                p = new long[r];
                for (int i = 0; i < r; i++) {
                    p[i] = r - 1 - i;
                }
            }
            if (p.length != r) {
                throw error(ctx, "perm " + java.util.Arrays.toString(p) + " for rank " + r);
            }
            long[] st = Bcast.contiguous(x.shape());
            long[] dims = new long[r];
            long[] sa = new long[r];
            for (int i = 0; i < r; i++) {
                int src = (int) p[i];
                dims[i] = x.shape().dim(src);
                sa[i] = st[src];
            }
            DeviceTensor y = ctx.alloc(x.dtype(), Shape.of(dims));
            if (y.size() > 0) {
                ctx.launch("transpose", k, y.size(), x, y, y.size(), 0L, new Bcast(dims, sa, new long[r]));
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned gather(NodeSpec node) {
        DType t = node.inputType(0);
        if (t == null || node.inputType(1) != DType.INT64 || (t.byteSize() != 4 && t.byteSize() != 8) || t == DType.STRING) {
            return null;
        }
        String k = t.byteSize() == 4 ? "gather_f32" : "gather_i64";
        long axis = node.attrs().getInt("axis", 0);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor data = dev(in[0]), idx = dev(in[1]);
            int r = data.shape().rank();
            int a = (int) (axis < 0 ? axis + r : axis);
            if (a < 0 || a >= r) {
                throw error(ctx, "axis " + axis + " out of range for " + data.shape());
            }
            long outer = 1, inner = 1;
            for (int d = 0; d < a; d++) {
                outer *= data.shape().dim(d);
            }
            for (int d = a + 1; d < r; d++) {
                inner *= data.shape().dim(d);
            }
            long[] out = new long[r - 1 + idx.shape().rank()];
            int j = 0;
            for (int d = 0; d < a; d++) {
                out[j++] = data.shape().dim(d);
            }
            for (long v : idx.shape().dims()) {
                out[j++] = v;
            }
            for (int d = a + 1; d < r; d++) {
                out[j++] = data.shape().dim(d);
            }
            DeviceTensor y = ctx.alloc(data.dtype(), Shape.of(out));
            if (y.size() > 0) {
                ctx.launch("gather", k, y.size(), data, idx, y, outer, data.shape().dim(a), inner, idx.size(), ctx.errorFlag());
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned concat(NodeSpec node) {
        DType t = node.inputType(0);
        if (t == null || (t.byteSize() != 4 && t.byteSize() != 8) || t == DType.STRING) {
            return null;
        }
        for (int i = 0; i < node.inputCount(); i++) {
            if (node.inputType(i) != t) {
                return null;
            }
        }
        String k = t.byteSize() == 4 ? "concat_f32" : "concat_i64";
        long axis = node.attrs().getInt("axis", 0);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor first = dev(in[0]);
            int r = first.shape().rank();
            int a = (int) (axis < 0 ? axis + r : axis);
            if (a < 0 || a >= r) {
                throw error(ctx, "axis " + axis + " out of range for rank " + r);
            }
            long[] out = first.shape().dims();
            long total = 0;
            for (Object o : in) {
                Shape s = dev(o).shape();
                for (int d = 0; d < r; d++) {
                    if (s.rank() != r || (d != a && s.dim(d) != out[d])) {
                        throw error(ctx, "inputs " + first.shape() + " and " + s + " differ outside axis " + a);
                    }
                }
                total += s.dim(a);
            }
            out[a] = total;
            DeviceTensor y = ctx.alloc(t, Shape.of(out));
            long outer = 1;
            for (int d = 0; d < a; d++) {
                outer *= out[d];
            }
            long innerOut = outer == 0 ? 0 : y.size() / Math.max(outer, 1);
            long offset = 0;
            for (Object o : in) {
                DeviceTensor x = dev(o);
                long innerIn = outer == 0 ? 0 : x.size() / Math.max(outer, 1);
                if (x.size() > 0) {
                    ctx.launch("concat", k, x.size(), x, y, outer, innerIn, innerOut, offset);
                }
                offset += innerIn;
            }
            return new Object[] {y};
        });
    }

    private static String code(DType t) {
        return switch (t) {
            case FLOAT -> "f32";
            case INT32 -> "i32";
            case INT64 -> "i64";
            case BOOL, UINT8 -> "u8";
            default -> null;
        };
    }

    private static GpuPlanned cast(NodeSpec node) {
        DType from = node.inputType(0);
        long to = node.attrs().getInt("to", 0);
        DType target;
        try {
            target = DType.fromOnnx((int) to);
        } catch (RuntimeException e) {
            return null;
        }
        if (from == null || target == null || target == DType.UINT8 || code(from) == null || code(target) == null) {
            return null;
        }
        if (from == target) {
            return GpuPlanned.of((ctx, in) -> new Object[] {in[0]});
        }
        if (code(from).equals(code(target))) {
            return null;
        }
        String k = "cast_" + code(from) + "_" + code(target);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            DeviceTensor y = ctx.alloc(target, x.shape());
            if (y.size() > 0) {
                ctx.launch("cast", k, y.size(), x, y, y.size());
            }
            return new Object[] {y};
        });
    }
}
