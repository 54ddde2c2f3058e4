package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import java.util.ArrayList;
import java.util.List;

/**
 * The per-row dynamic quantization the quantizer writes ({@code dev.gatun.engine.quant.DynamicPass}, per-row
 * activations), fifteen standard nodes, into one {@code dev.gatun:DynamicQuantizeRows(x) -> (x_q, s, zf)}
 * ({@link dev.gatun.engine.ops.QuantFusedOps}): for each row of x [..., K]
 * <pre>
 *   hi = Max(ReduceMax(x, axes=[-1], keepdims=1), 0)    lo = Min(ReduceMin(x, axes=[-1], keepdims=1), 0)
 *   s  = Max(Div(Sub(hi, lo), 255), tiny)               tiny a positive float32 constant
 *   zf = Round(Div(Neg(lo), s))
 *   x_q = Cast(Clip(Add(Round(Div(x, s)), zf), 0, 255), to = UINT8)
 * </pre>
 * (Max, Min and Add in either operand order). The fused kernel computes the same float operations in the same order,
 * so its outputs equal the unfused graph's bit for bit. Every intermediate value must be read only inside the chain;
 * s and zf may be read anywhere (the products' scales and zero points). Runs before {@link QuantMatMulFusion}.
 */
public final class DynamicQuantizeRowsFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node cast : g.nodes()) {
            if (cast.opType().equals("Cast") && cast.domain().isEmpty() && cast.attrs().getInt("to", 0) == DType.UINT8.onnxId()) {
                match(ix, rw, cast);
            }
        }
        return rw.result();
    }

    private static void match(GraphIndex ix, Rewriter rw, Node cast) {
        List<Node> group = new ArrayList<>(List.of(cast));
        Node clip = ix.producer(cast.input(0), "Clip");
        if (clip == null || clip.inputs().size() != 3 || !isScalar(ix, clip.input(1), 0f) || !isScalar(ix, clip.input(2), 255f)) {
            return;
        }
        group.add(clip);
        Node add = ix.producer(clip.input(0), "Add");
        if (add == null || add.inputs().size() != 2) {
            return;
        }
        group.add(add);
        // Add(Round(Div(x, s)), zf), either order: the rounded x is the Round whose Div reads a non-constant x and s.
        Node xr = null;
        Node zr = null;
        for (int i = 0; i < 2; i++) {
            Node r = ix.producer(add.input(i), "Round");
            Node zDiv = r == null ? null : ix.producer(r.input(0), "Div");
            Node neg = zDiv == null ? null : ix.producer(zDiv.input(0), "Neg");
            if (neg != null) {
                zr = r;
            } else {
                xr = r;
            }
        }
        if (xr == null || zr == null) {
            return;
        }
        Node xDiv = ix.producer(xr.input(0), "Div");
        Node zDiv = ix.producer(zr.input(0), "Div");
        if (xDiv == null || !xDiv.input(1).equals(zDiv.input(1))) {
            return;
        }
        String x = xDiv.input(0);
        String s = xDiv.input(1);
        Node neg = ix.producer(zDiv.input(0), "Neg");
        Node sMax = ix.producer(s, "Max");
        String s0 = sMax == null ? null : floatOperand(ix, sMax, null);
        Node step = s0 == null ? null : ix.producer(s0, "Div");
        if (step == null || !isScalar(ix, step.input(1), 255f)) {
            return;
        }
        Float tiny = ix.scalarFloat(GraphIndex.other(sMax, s0), 1);
        Node sub = ix.producer(step.input(0), "Sub");
        if (tiny == null || !(tiny > 0) || sub == null) {
            return;
        }
        Node hiMax = ix.producer(sub.input(0), "Max");
        Node loMin = ix.producer(sub.input(1), "Min");
        if (hiMax == null || loMin == null || !neg.input(0).equals(loMin.output(0))) {
            return;
        }
        String hi = floatOperand(ix, hiMax, 0f);
        String lo = floatOperand(ix, loMin, 0f);
        Node rMax = hi == null ? null : ix.producer(hi, "ReduceMax");
        Node rMin = lo == null ? null : ix.producer(lo, "ReduceMin");
        if (!isLastAxis(ix, rMax, x) || !isLastAxis(ix, rMin, x)) {
            return;
        }
        group.addAll(List.of(xr, zr, xDiv, zDiv, neg, sMax, step, sub, hiMax, loMin, rMax, rMin));
        String zf = zr.output(0);
        if (!ix.removable(group, List.of(cast.output(0), s, zf))) {
            return;
        }
        rw.replace(group, new Node(cast.name() + "/DynamicQuantizeRows", "DynamicQuantizeRows", FusedOps.DOMAIN, List.of(x),
                List.of(cast.output(0), s, zf), FusedOps.attributes("min_scale", tiny)));
    }

    /**
     * The operand of binary node {@code n} that is not a constant scalar, when the other one is a float32 constant
     * scalar equal to {@code constant} (any value when null); else null.
     */
    private static String floatOperand(GraphIndex ix, Node n, Float constant) {
        if (n.inputs().size() != 2) {
            return null;
        }
        for (int i = 0; i < 2; i++) {
            Float c = ix.scalarFloat(n.input(1 - i), 1);
            if (c != null && ix.constant(n.input(i)) == null && (constant == null || c.floatValue() == constant)) {
                return n.input(i);
            }
        }
        return null;
    }

    private static boolean isScalar(GraphIndex ix, String value, float v) {
        Float c = ix.scalarFloat(value, 1);
        return c != null && c == v;
    }

    /** Whether {@code r} reduces {@code x} over its last axis only, keeping the dim. */
    private static boolean isLastAxis(GraphIndex ix, Node r, String x) {
        if (r == null || !r.input(0).equals(x) || r.attrs().getInt("keepdims", 1) != 1) {
            return false;
        }
        long[] axes = r.inputs().size() > 1 && !r.input(1).isEmpty() ? ix.ints(r.input(1)) : r.attrs().getInts("axes", null);
        return axes != null && axes.length == 1 && axes[0] == -1;
    }
}
