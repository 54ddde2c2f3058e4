package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.Nchwc;
import dev.gatun.engine.cpu.NchwcPool;
import dev.gatun.engine.cpu.NchwcReorder;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * The blocked-layout operators the graph pass {@link dev.gatun.engine.graph.passes.NchwcLayout} writes for CPU
 * sessions (never exporters), in Gatun's domain {@value FusedOps#DOMAIN}, float32 only. Layout: {@link Nchwc}
 * ([N, C, H, W] stored as [N, ceil(C/16), H, W, 16]).
 *
 * <ul>
 *   <li>{@code ReorderToNchwc(X) -> Y}: X [N, C, H, W] -> Y [N, CB, H, W, 16], pad lanes 0.</li>
 *   <li>{@code ReorderFromNchwc(X) -> Y}, attribute {@code channels} = C: the inverse.</li>
 *   <li>{@code NchwcGlobalAveragePool(X) -> Y}, attribute {@code channels}: blocked X -> Y [N, C, 1, 1] as
 *       https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html.</li>
 *   <li>{@code NchwcMaxPool(X) -> Y}, attribute {@code channels} and MaxPool's (2-D, no Indices output): blocked X
 *       -> blocked Y, as https://onnx.ai/onnx/operators/onnx__MaxPool.html.</li>
 *   <li>{@code NchwcConv(X, W, B?, Z?) -> Y}: {@link FusedConvOps}'s FusedConv (Conv attributes, residual Z added
 *       before {@code activation}) with X, Z and Y blocked; X plain NCHW when attribute {@code nchw_input} is 1.
 *       W and B are constants: group 1 (W [M, C, KH, KW]) or depthwise (group = C = M, W [C, 1, KH, KW]). A Z of
 *       another shape than Y's (broadcast over batch or positions) is added after the convolution.</li>
 * </ul>
 */
public final class NchwcOps implements OpFamily {
    /** Op types. */
    public static final String REORDER_TO = "ReorderToNchwc", REORDER_FROM = "ReorderFromNchwc",
            GLOBAL_AVERAGE_POOL = "NchwcGlobalAveragePool", CONV = "NchwcConv", MAX_POOL = "NchwcMaxPool";

    @Override
    public List<OpInfo> ops() {
        return List.of(op(REORDER_TO), op(REORDER_FROM), op(GLOBAL_AVERAGE_POOL), op(CONV), op(MAX_POOL));
    }

    private static OpInfo op(String type) {
        return new OpInfo(FusedOps.DOMAIN, type, FusedOps.OPSET, List.of(DType.FLOAT));
    }

    @Override
    public Planned plan(NodeSpec node) {
        node.requireType(0, DType.FLOAT);
        return switch (node.opType()) {
            case REORDER_TO -> reorderTo(node);
            case REORDER_FROM -> fromBlocked(node, channels(node), false);
            case GLOBAL_AVERAGE_POOL -> fromBlocked(node, channels(node), true);
            case CONV -> NchwcConvOp.plan(node);
            case MAX_POOL -> maxPool(node, channels(node));
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    private static int channels(NodeSpec node) {
        long c = node.attrs().getInt("channels", -1);
        if (c < 1 || c > Integer.MAX_VALUE / 2) {
            throw node.unsupported("channels " + c);
        }
        return (int) c;
    }

    private static Planned reorderTo(NodeSpec node) {
        Memo<Tensor[]> outputs = new Memo<>();
        Memo<Shape> shapes = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape s = x.shape();
            Shape ys = shapes.get(s);
            if (ys == null) {
                if (s.rank() != 4) {
                    throw node.error("X " + s + " must be [N, C, H, W]");
                }
                ys = shapes.put(s, Shape.of(s.dim(0), Nchwc.blocks(s.dim(1)), s.dim(2), s.dim(3), Nchwc.BLOCK));
            }
            Tensor y = ctx.allocate(DType.FLOAT, ys);
            NchwcReorder.toBlocked(ctx, x.data(), y.data(), Math.toIntExact(s.dim(0)), Math.toIntExact(s.dim(1)),
                    s.dim(2) * s.dim(3));
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    /** The [N, C, H, W] a blocked X of {@code c} channels stands for, checked. */
    static Shape unblocked(NodeSpec node, Shape s, int c) {
        if (s.rank() != 5 || s.dim(4) != Nchwc.BLOCK || s.dim(1) != Nchwc.blocks(c)) {
            throw node.error("X " + s + " is not a blocked tensor of " + c + " channels [N, " + Nchwc.blocks(c) + ", H, W, "
                    + Nchwc.BLOCK + "]");
        }
        return Shape.of(s.dim(0), c, s.dim(2), s.dim(3));
    }

    /**
     * Out of the blocked layout: {@code ReorderFromNchwc} (Y [N, C, H, W]) or, when {@code pool},
     * {@code NchwcGlobalAveragePool} (Y [N, C, 1, 1]).
     */
    private static Planned fromBlocked(NodeSpec node, int c, boolean pool) {
        Memo<Tensor[]> outputs = new Memo<>();
        Memo<Shape> shapes = new Memo<>();
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            Shape ys = shapes.get(s);
            if (ys == null) {
                Shape plain = unblocked(node, s, c);
                ys = shapes.put(s, pool ? Shape.of(plain.dim(0), c, 1, 1) : plain);
            }
            Tensor y = ctx.allocate(DType.FLOAT, ys);
            int n = Math.toIntExact(s.dim(0));
            long p = s.dim(2) * s.dim(3);
            if (pool) {
                NchwcReorder.globalAveragePool(ctx, in[0].data(), y.data(), n, c, p);
            } else {
                NchwcReorder.fromBlocked(ctx, in[0].data(), y.data(), n, c, p);
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    private record Pooled(NchwcPool.Window window, Shape y) {}

    private static Planned maxPool(NodeSpec node, int c) {
        PoolGeometry.Attrs a = PoolGeometry.Attrs.read(node);
        if (a.rank() != 2) {
            throw node.unsupported("a " + a.rank() + "-D MaxPool in the blocked layout (2-D only)");
        }
        Memo<Tensor[]> outputs = new Memo<>();
        Memo<Pooled> windows = new Memo<>();
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            Pooled p = windows.get(s);
            if (p == null) {
                Shape plain = unblocked(node, s, c);
                PoolGeometry g = PoolGeometry.of(node, a, plain);
                int planes = Math.toIntExact(s.dim(0) * s.dim(1));
                p = windows.put(s, new Pooled(new NchwcPool.Window(planes, g.in[0], g.in[1], g.out[0], g.out[1], g.kernel[0],
                        g.kernel[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], g.padBegin[0], g.padBegin[1]),
                        Shape.of(s.dim(0), s.dim(1), g.out[0], g.out[1], Nchwc.BLOCK)));
            }
            Tensor y = ctx.allocate(DType.FLOAT, p.y);
            if (y.size() > 0) {
                NchwcPool.maxPool(ctx, p.window, in[0].data(), y.data());
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    /** Conv attributes and the fused tail, as FusedConv reads them. */
    record ConvAttrs(String autoPad, long group, long[] strides, long[] dilations, long[] pads, ConvOps.Act act,
                     boolean nchwInput) {
        static ConvAttrs of(NodeSpec node) {
            Attributes at = node.attrs();
            String autoPad = at.getString("auto_pad", "NOTSET");
            long[] strides = at.getInts("strides", new long[] {1, 1});
            long[] dilations = at.getInts("dilations", new long[] {1, 1});
            long[] pads = at.getInts("pads", new long[4]);
            if (strides.length != 2 || dilations.length != 2 || pads.length != 4
                    || Arrays.stream(strides).anyMatch(v -> v < 1) || Arrays.stream(dilations).anyMatch(v -> v < 1)
                    || Arrays.stream(pads).anyMatch(v -> v < 0)) {
                throw node.unsupported("strides " + Arrays.toString(strides) + ", dilations " + Arrays.toString(dilations)
                        + ", pads " + Arrays.toString(pads) + " (2-D, positive strides and dilations, pads >= 0)");
            }
            String activation = at.getString("activation", "");
            ConvOps.Act act = switch (activation) {
                case "" -> ConvOps.Act.NONE;
                case "Relu" -> new ConvOps.Act(true, 0f, Float.POSITIVE_INFINITY);
                case "Clip" -> new ConvOps.Act(true, at.getFloat("clip_min", Float.NEGATIVE_INFINITY),
                        at.getFloat("clip_max", Float.POSITIVE_INFINITY));
                default -> throw node.unsupported("activation '" + activation + "'");
            };
            return new ConvAttrs(autoPad, at.getInt("group", 1), strides, dilations, pads, act,
                    at.getInt("nchw_input", 0) != 0);
        }
    }

    /** The Conv geometry of X's shape (plain, or blocked of {@code c} channels) for weights W [m, c/group, kh, kw]. */
    static Nchwc.Geometry geometry(NodeSpec node, ConvAttrs a, Shape xs, int c, int m, int kh, int kw) {
        Shape plain = a.nchwInput() ? xs : unblocked(node, xs, c);
        if (plain.rank() != 4 || plain.dim(1) != c) {
            throw node.error("X " + xs + " must be [N, " + c + ", H, W]" + (a.nchwInput() ? "" : " blocked"));
        }
        long[] in = {plain.dim(2), plain.dim(3)};
        long[][] geo = ConvOps.outputAndPads(node, a.autoPad(), in, new long[] {kh, kw}, a.strides(), a.dilations(),
                a.pads(), "X " + xs);
        long[] o = geo[0];
        long[] pb = geo[1];
        return new Nchwc.Geometry(Math.toIntExact(plain.dim(0)), c, m, (int) a.group(), Math.toIntExact(in[0]),
                Math.toIntExact(in[1]), kh, kw, Math.toIntExact(o[0]), Math.toIntExact(o[1]), (int) a.strides()[0],
                (int) a.strides()[1], (int) a.dilations()[0], (int) a.dilations()[1], Math.toIntExact(pb[0]),
                Math.toIntExact(pb[1]));
    }

    /** Adds blocked {@code z} to blocked {@code y} with ONNX broadcasting over batch and positions, then {@code act}. */
    static void broadcastTail(Tensor y, Tensor z, ConvOps.Act act, NodeSpec node) {
        Shape ys = y.shape();
        Shape zs = z.shape();
        if (zs.rank() != 5 || zs.dim(1) != ys.dim(1) || zs.dim(4) != ys.dim(4)) {
            throw node.error("residual Z " + zs + " does not broadcast to Y " + ys);
        }
        for (int d : new int[] {0, 2, 3}) {
            if (zs.dim(d) != ys.dim(d) && zs.dim(d) != 1) {
                throw node.error("residual Z " + zs + " does not broadcast to Y " + ys);
            }
        }
        MemorySegment yd = y.data();
        MemorySegment zd = z.data();
        ConvEpilogue ep = act.epilogue();
        long i = 0;
        for (long n = 0; n < ys.dim(0); n++) {
            for (long b = 0; b < ys.dim(1); b++) {
                for (long h = 0; h < ys.dim(2); h++) {
                    for (long w = 0; w < ys.dim(3); w++) {
                        long zb = ((((zs.dim(0) == 1 ? 0 : n) * zs.dim(1) + b) * zs.dim(2) + (zs.dim(2) == 1 ? 0 : h))
                                * zs.dim(3) + (zs.dim(3) == 1 ? 0 : w)) * Nchwc.BLOCK;
                        for (int l = 0; l < Nchwc.BLOCK; l++, i++) {
                            float v = yd.getAtIndex(Tensor.F32, i) + zd.getAtIndex(Tensor.F32, zb + l);
                            yd.setAtIndex(Tensor.F32, i, ep.apply(v, 0f));
                        }
                    }
                }
            }
        }
    }
}
