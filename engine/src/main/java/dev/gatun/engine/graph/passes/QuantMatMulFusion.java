package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The chain dynamic quantization writes for each linear layer (ONNX Runtime's {@code quantize_dynamic}), into
 * {@code dev.gatun:QuantMatMul} ({@link dev.gatun.engine.ops.QuantFusedOps}):
 * <pre>
 *   q, s, z = DynamicQuantizeLinear(x)                  (kept: its outputs usually feed several products)
 *   p = MatMulInteger(q, W, z, Wz?)                     W a constant 2-D uint8/int8, Wz absent or constant
 *   f = Cast(p, to float)
 *   m = Mul(s, Ws)  (either order)                      Ws a float32 constant, scalar or [N]
 *   y = Mul(f, m)   (either order)
 *     (or, static quantization: q from any node, z a constant scalar or absent, and m itself a float32
 *      constant, scalar or [N], holding a_scale * Ws: fused with no a_scale)
 *   y = Add(y, bias) (either order, optional)           bias a float32 constant [N]
 *   y = Relu(y) | Gelu(y) | dev.gatun:Gelu(y)  (optional)
 *   y = Add(y, r)   (either order, optional)            the residual of a transformer block
 * </pre>
 * or, per-row dynamic quantization (the quantizer's default, see {@link DynamicQuantizeRowsFusion}):
 * <pre>
 *   q, s, zf = dev.gatun:DynamicQuantizeRows(x)          s, zf [..., M, 1]
 *   zi = Cast(zf, to INT32)                               (kept: shared by the products of x)
 *   p = Sub(MatMulInteger(q, W), Mul(zi, colsum))         colsum an int32 constant [N] equal to W's column sums
 *   f = Cast(p, to float), then the Mul(s, Ws), bias, activation and residual as above
 * </pre>
 * into {@code QuantMatMul(q, s, zi, W, "", Ws, bias, r)} with per-row a_scale and a_zero_point.
 * into {@code QuantMatMul(q, s, z, W, Wz, Ws, bias, r)} with the activation as attribute. Each intermediate value
 * must be read only inside the chain (the scales' Mul may also be read elsewhere: it is then kept). It runs
 * after {@link GeluFusion} (so that the erf GELU is one node) and before {@link SkipLayerNormFusion}.
 */
public final class QuantMatMulFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node mi : g.nodes()) {
            if (mi.opType().equals("MatMulInteger") && mi.domain().isEmpty()) {
                match(ix, rw, mi);
            }
        }
        return rw.result();
    }

    private static void match(GraphIndex ix, Rewriter rw, Node mi) {
        List<String> in = mi.inputs();
        Tensor w = ix.constant(in.get(1));
        if (w == null || w.shape().rank() != 2 || (w.dtype() != DType.UINT8 && w.dtype() != DType.INT8)) {
            return;
        }
        long n = w.shape().dim(1);
        String wz = in.size() > 3 ? in.get(3) : "";
        Tensor wzT = wz.isEmpty() ? null : ix.constant(wz);
        if (!wz.isEmpty() && (wzT == null || (wzT.size() != 1 && wzT.size() != n))) {
            return;
        }
        Node dql = ix.producer(in.get(0), "DynamicQuantizeLinear");
        String zp = in.size() > 2 ? in.get(2) : "";
        Node rowsQ = ix.producer(in.get(0));
        List<Node> group = new ArrayList<>(List.of(mi));
        String product = mi.output(0);
        boolean dynamic;
        String scale;
        if (rowsQ != null && rowsQ.opType().equals("DynamicQuantizeRows") && rowsQ.domain().equals(FusedOps.DOMAIN)
                && rowsQ.output(0).equals(in.get(0)) && zp.isEmpty() && wz.isEmpty()) {
            // Per-row: p = Sub(MatMulInteger(q, W), Mul(Cast(zf, INT32), colsum(W))).
            Node sub = ix.soleConsumer(product, "Sub");
            Node corr = sub == null || !sub.input(0).equals(product) ? null : ix.producer(sub.input(1), "Mul");
            String sums = corr == null ? null : columnSums(ix, corr, w);
            Node zi = sums == null ? null : ix.producer(GraphIndex.other(corr, sums), "Cast");
            if (zi == null || !zi.input(0).equals(rowsQ.output(2)) || zi.attrs().getInt("to", 0) != DType.INT32.onnxId()) {
                return;
            }
            group.addAll(List.of(sub, corr));
            product = sub.output(0);
            zp = zi.output(0);
            scale = rowsQ.output(1);
            dynamic = true;
        } else {
            dynamic = dql != null && dql.output(0).equals(in.get(0)) && dql.outputs().size() >= 3;
            Tensor zpT = zp.isEmpty() ? null : ix.constant(zp);
            if (dynamic ? !zp.equals(dql.output(2)) : !zp.isEmpty() && (zpT == null || zpT.size() != 1)) {
                return;
            }
            scale = dynamic ? dql.output(1) : "";
        }
        Node cast = ix.soleConsumer(product, "Cast");
        if (cast == null || cast.attrs().getInt("to", 0) != DType.FLOAT.onnxId()) {
            return;
        }
        String f = cast.output(0);
        Node mul = ix.soleConsumer(f, "Mul");
        String m = mul == null ? null : GraphIndex.other(mul, f);
        // Dynamic: m = Mul(a_scale, W_scale). Static (a QuantizeLinear with constant parameters before): m is
        // the constant a_scale * W_scale itself, and the fused node has no a_scale (1).
        Node scales = m == null || !dynamic ? null : ix.producer(m, "Mul");
        String ws = dynamic ? (scales == null ? null : GraphIndex.other(scales, scale)) : m;
        Tensor wsT = ws == null ? null : ix.constant(ws);
        if (wsT == null || wsT.dtype() != DType.FLOAT || (wsT.size() != 1 && wsT.size() != n) || wsT.shape().rank() > 1) {
            return;
        }
        group.addAll(List.of(cast, mul));
        if (dynamic && ix.soleConsumer(m) == mul) {
            group.add(scales);
        }
        String y = mul.output(0);
        String bias = "";
        Node add = ix.soleConsumer(y, "Add");
        String b = add == null ? null : GraphIndex.other(add, y);
        Tensor bT = b == null ? null : ix.constant(b);
        if (bT != null && bT.dtype() == DType.FLOAT && bT.shape().rank() == 1 && bT.size() == n) {
            bias = b;
            group.add(add);
            y = add.output(0);
        }
        String activation = "";
        Node act = ix.soleConsumer(y);
        String name = act == null ? null : activation(act);
        if (name != null) {
            activation = name;
            group.add(act);
            y = act.output(0);
        }
        String residual = "";
        Node radd = ix.soleConsumer(y, "Add");
        String r = radd == null ? null : GraphIndex.other(radd, y);
        if (r != null && !r.isEmpty() && ix.constant(r) == null) {
            residual = r;
            group.add(radd);
            y = radd.output(0);
        }
        if (!ix.removable(group, List.of(y))) {
            return;
        }
        List<String> inputs = new ArrayList<>(List.of(in.get(0), scale, zp, in.get(1), wz, ws, bias));
        if (!residual.isEmpty()) {
            inputs.add(residual);
        }
        rw.replace(group, new Node(mi.name() + "/QuantMatMul", "QuantMatMul", FusedOps.DOMAIN, inputs, List.of(y),
                FusedOps.attributes("activation", activation)));
    }

    /**
     * The input of {@code corr} that is an int32 constant [N] holding the column sums of W (2-D, int8 or uint8, read
     * in its own domain), or null.
     */
    private static String columnSums(GraphIndex ix, Node corr, Tensor w) {
        int k = (int) w.shape().dim(0);
        int n = (int) w.shape().dim(1);
        for (String c : corr.inputs()) {
            Tensor t = ix.constant(c);
            if (t == null || t.dtype() != DType.INT32 || t.size() != n || t.shape().rank() != 1) {
                continue;
            }
            int[] sums = new int[n];
            for (int p = 0; p < k; p++) {
                for (int j = 0; j < n; j++) {
                    sums[j] += (int) w.getAsLong((long) p * n + j);
                }
            }
            boolean equal = true;
            for (int j = 0; j < n && equal; j++) {
                equal = sums[j] == t.getAsLong(j);
            }
            return equal && GraphIndex.other(corr, c) != null ? c : null;
        }
        return null;
    }

    /** The QuantMatMul activation equal to node {@code n}, or null. */
    private static String activation(Node n) {
        if (n.inputs().size() != 1 || n.outputs().size() != 1) {
            return null;
        }
        String approx = n.attrs().getString("approximate", "none");
        boolean gelu = n.opType().equals("Gelu") && (n.domain().isEmpty() || n.domain().equals(FusedOps.DOMAIN));
        if (gelu) {
            return approx.equals("none") ? "Gelu" : approx.equals("tanh") ? "GeluTanh" : null;
        }
        return n.opType().equals("Relu") && n.domain().isEmpty() ? "Relu" : null;
    }
}
