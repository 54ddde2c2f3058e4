package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.Nchwc;
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

    private record Weights(Tensor w, Tensor b, int c, int m, int group, int kh, int kw) {}

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
        Memo<Nchwc.Geometry> geometries = new Memo<>();
        Memo<ConvEpilogue> epilogues = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        ConvEpilogue bare = a.act().epilogue();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Nchwc.Geometry g = geometries.get(x.shape());
            if (g == null) {
                g = geometries.put(x.shape(), NchwcOps.geometry(node, a, x.shape(), wt.c, wt.m, wt.kh, wt.kw));
            }
            Tensor y = ctx.allocate(DType.FLOAT, Shape.of(g.n(), Nchwc.blocks(g.m()), g.oh(), g.ow(), Nchwc.BLOCK));
            Tensor z = residual ? in[3] : null;
            boolean fused = z == null || z.shape().equals(y.shape());
            ConvEpilogue ep = bare;
            if (z != null && fused) {
                ep = epilogues.get(z.data());
                if (ep == null) {
                    ep = epilogues.put(z.data(), bare.withResidual(z.data()));
                }
            }
            run(g, a.nchwInput(), x.data(), wt, y.data(), fused ? ep : ConvEpilogue.NONE);
            if (!fused) {
                NchwcOps.broadcastTail(y, z, a.act(), node);
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    private static void run(Nchwc.Geometry g, boolean nchwInput, MemorySegment x, Weights wt, MemorySegment y, ConvEpilogue ep) {
        Nchwc.reference(g, nchwInput, x, wt.w.data(), wt.b == null ? null : wt.b.data(), y, ep);
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
        return new Weights(w, b, c, m, group, (int) ws.dim(2), (int) ws.dim(3));
    }
}
