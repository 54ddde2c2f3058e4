package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.Nchwc;
import dev.gatun.engine.cpu.NchwcConv;
import dev.gatun.engine.cpu.NchwcDepthwise;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Plans and runs {@code dev.gatun:NchwcConv} ({@link NchwcOps}): constant weights checked once, the geometry per X
 * shape, the epilogue per residual buffer and the returned array kept across replayed runs ({@link Memo}), so a
 * warm run allocates nothing.
 */
final class NchwcConvOp {
    private NchwcConvOp() {}

    /** The checked constant weights and their packing for the kernel (one of the two is null). */
    private record Weights(Tensor w, Tensor b, int c, int m, int group, int kh, int kw, NchwcDepthwise.Packed depthwise,
                           NchwcConv.Packed dense) {}

    /** A geometry and Y's blocked shape. */
    private record Sized(Nchwc.Geometry g, Shape y) {}

    static Planned plan(NodeSpec node) {
        if (node.inputCount() < 2 || node.inputCount() > 4) {
            throw node.unsupported(node.inputCount() + " inputs (X, W, B?, Z?)");
        }
        NchwcOps.ConvAttrs a = NchwcOps.ConvAttrs.of(node);
        Weights wt = weights(node, a);
        boolean residual = node.hasInput(3);
        if (residual) {
            node.requireType(3, DType.FLOAT);
        }
        Memo<Sized> geometries = new Memo<>();
        Memo<ConvEpilogue> epilogues = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        ConvEpilogue bare = a.act().epilogue();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Sized sized = geometries.get(x.shape());
            if (sized == null) {
                Nchwc.Geometry geo = NchwcOps.geometry(node, a, x.shape(), wt.c, wt.m, wt.kh, wt.kw);
                sized = geometries.put(x.shape(), new Sized(geo,
                        Shape.of(geo.n(), Nchwc.blocks(geo.m()), geo.oh(), geo.ow(), Nchwc.BLOCK)));
            }
            Nchwc.Geometry g = sized.g;
            Tensor y = ctx.allocate(DType.FLOAT, sized.y);
            if (y.size() == 0) {
                return Memo.outputs(outputs, y);
            }
            Tensor z = residual ? in[3] : null;
            boolean fused = z == null || z.shape().equals(y.shape());
            ConvEpilogue ep = bare;
            if (z != null && fused) {
                ep = epilogues.get(z.data());
                if (ep == null) {
                    ep = epilogues.put(z.data(), bare.withResidual(z.data()));
                }
            }
            if (wt.depthwise != null) {
                NchwcDepthwise.conv(ctx, wt.depthwise, g, x.data(), y.data(), fused ? ep : ConvEpilogue.NONE);
            } else {
                NchwcConv.conv(ctx, wt.dense, g, a.nchwInput(), x.data(), y.data(), fused ? ep : ConvEpilogue.NONE);
            }
            if (!fused) {
                NchwcOps.broadcastTail(y, z, a.act(), node);
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    /** The constant weights, checked: group 1 W [M, C, KH, KW], or depthwise W [C, 1, KH, KW] with group C. */
    private static Weights weights(NodeSpec node, NchwcOps.ConvAttrs a) {
        node.requireType(1, DType.FLOAT);
        Tensor w = node.constant(1);
        if (w == null || w.shape().rank() != 4) {
            throw node.unsupported("W must be a constant [M, C/group, KH, KW]");
        }
        Shape ws = w.shape();
        if (ws.size() > Integer.MAX_VALUE || ws.dim(0) < 1 || ws.dim(2) < 1 || ws.dim(3) < 1) {
            throw node.unsupported("W " + ws);
        }
        int m = (int) ws.dim(0);
        int group = Math.toIntExact(a.group());
        int c;
        if (group == 1) {
            c = (int) ws.dim(1);
        } else if (ws.dim(1) == 1 && group == m) {
            c = m;
        } else {
            throw node.unsupported("group " + group + " with W " + ws + " (group 1, or depthwise with group = C = M)");
        }
        Tensor b = null;
        if (node.hasInput(2)) {
            node.requireType(2, DType.FLOAT);
            b = node.constant(2);
            if (b == null || !b.shape().equals(Shape.of(m))) {
                throw node.unsupported("B must be a constant [" + m + "]");
            }
        }
        int kh = (int) ws.dim(2);
        int kw = (int) ws.dim(3);
        MemorySegment bias = b == null ? null : b.data();
        String detail = "bias=" + (b == null ? "none" : b.data().address() + "/" + b.byteSize());
        if (group != 1 || (c == 1 && m == 1)) {
            NchwcDepthwise.Packed p = node.prepack().get("nchwc-depthwise", w, detail,
                    arena -> NchwcDepthwise.pack(arena, w.data(), bias, c, kh, kw));
            return new Weights(w, b, c, m, group, kh, kw, p, null);
        }
        NchwcConv.Packed p = node.prepack().get("nchwc-conv", w, detail,
                arena -> NchwcConv.pack(arena, w.data(), bias, m, c, kh, kw));
        return new Weights(w, b, c, m, group, kh, kw, null, p);
    }
}
