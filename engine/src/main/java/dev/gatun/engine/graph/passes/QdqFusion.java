package dev.gatun.engine.graph.passes;

import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * QDQ models (float ops between QuantizeLinear / DequantizeLinear pairs, e.g. from {@code gatun quantize --mode
 * static}) onto the integer kernels, instead of dequantizing and running in float:
 * <pre>
 *   Conv:   DequantizeLinear(x_q, xs, xz) -> Conv(., DQ(W_q, ws, wz, axis 0), DQ(B_q int32, bs) | float B)
 *           [-> Relu | Clip(0, c)] -> QuantizeLinear(., ys, yz)
 *        => QLinearConv(x_q, xs, xz, W_q, ws, wz, ys, yz, B')        B' = B_q when bs = xs * ws, else rint(B / (xs * ws))
 *   MatMul: DequantizeLinear(x_q, xs, xz) -> MatMul(., DQ(W_q [K, N], ws, wz, axis 1))  [-> Add(float bias [N])]
 *   Gemm:   the same with transA 0, alpha = beta = 1, W_q [N, K] under transB (transposed here), C as bias
 *        => dev.gatun:QuantMatMul(x_q, xs, xz, W_q, wz, ws, bias)   (float output; a QuantizeLinear after it stays)
 * </pre>
 * x_q uint8 or int8 with per-tensor constant scale and zero point; weights int8/uint8 constants per tensor or per
 * output channel. The activation is absorbed only when quantization applies it anyway: the output zero point is the
 * type's minimum (so real 0 is the floor), and for Clip the maximum {@code c >= ys * (qmax - yz)}. Each
 * intermediate value must be read only inside the pattern.
 *
 * <p>Constant folding leaves the DequantizeLinear of integer weights for this pass (see
 * {@link ConstantFolder#fold(Graph, Arena, long, boolean)}); at the end the now-dead ones are dropped and the others
 * (weights of ops that stay in float) folded to float constants.
 */
public final class QdqFusion implements GraphPass {
    private final Arena arena;

    /** @param arena the model's arena, for transposed weights and folded constants */
    public QdqFusion(Arena arena) {
        this.arena = arena;
    }

    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
        for (Node n : g.nodes()) {
            if (!n.domain().isEmpty()) {
                continue;
            }
            switch (n.opType()) {
                case "Conv" -> conv(ix, rw, constants, n);
                case "MatMul", "Gemm" -> matmul(ix, rw, constants, n);
                default -> { }
            }
        }
        Graph r = rw.result();
        if (r != g) {
            r = new Graph(r.name(), r.nodes(), r.inputs(), r.outputs(), constants, r.valueInfo(), r.opsets());
        }
        r = new DeadNodeElimination().apply(r);
        return ConstantFolder.fold(r, arena, SessionOptions.DEFAULT_MAX_TENSOR_BYTES, false);
    }

    /** A DequantizeLinear's parts: quantized value, scale, zero point (or null). */
    private record Dq(Node node, String q, Tensor scale, String zp, Tensor zpValue) {}

    /** The DequantizeLinear producing {@code value} with constant scale (and zero point), or null. */
    private static Dq dq(GraphIndex ix, String value) {
        Node d = ix.producer(value, "DequantizeLinear");
        if (d == null || !d.domain().isEmpty() || d.attrs().getInt("block_size", 0) != 0) {
            return null;
        }
        Tensor s = ix.constant(d.input(1));
        String zp = d.inputs().size() > 2 ? d.input(2) : "";
        Tensor z = zp.isEmpty() ? null : ix.constant(zp);
        if (s == null || s.dtype() != DType.FLOAT || (!zp.isEmpty() && z == null)) {
            return null;
        }
        return new Dq(d, d.input(0), s, zp.isEmpty() ? null : zp, z);
    }

    /** A per-tensor uint8/int8 activation DequantizeLinear, or null. */
    private static Dq activation(GraphIndex ix, String value) {
        Dq x = dq(ix, value);
        if (x == null || x.scale.size() != 1 || (x.zpValue != null && x.zpValue.size() != 1) || ix.constant(x.q) != null) {
            return null;
        }
        return x;
    }

    /** A weight DequantizeLinear of an int8/uint8 constant, per tensor or per slice of {@code axis} (of size n). */
    private static Dq weight(GraphIndex ix, String value, int axis, long n) {
        Dq w = dq(ix, value);
        Tensor wq = w == null ? null : ix.constant(w.q);
        if (wq == null || (wq.dtype() != DType.INT8 && wq.dtype() != DType.UINT8)) {
            return null;
        }
        long dqAxis = w.node.attrs().getInt("axis", 1);
        dqAxis = dqAxis < 0 ? dqAxis + wq.shape().rank() : dqAxis;
        boolean perTensor = w.scale.size() == 1 && (w.zpValue == null || w.zpValue.size() == 1);
        boolean perChannel = w.scale.size() == n && w.scale.shape().rank() == 1 && dqAxis == axis
                && (w.zpValue == null || w.zpValue.size() == n);
        return perTensor || perChannel ? w : null;
    }

    private void conv(GraphIndex ix, Rewriter rw, Map<String, Tensor> constants, Node conv) {
        List<String> in = conv.inputs();
        Dq x = activation(ix, in.get(0));
        if (x == null || x.zp == null || in.size() < 2) {
            return;
        }
        Tensor wShape = ix.constant(dqInput(ix, in.get(1)));
        if (wShape == null || wShape.shape().rank() < 3) {
            return;
        }
        long m = wShape.shape().dim(0);
        Dq w = weight(ix, in.get(1), 0, m);
        if (w == null) {
            return;
        }
        float xs = x.scale.getFloat(0);
        float[] ws = w.scale.toFloatArray();
        String y = conv.output(0);
        List<Node> group = new ArrayList<>(List.of(conv));
        Node act = ix.soleConsumer(y);
        float clipMax = Float.POSITIVE_INFINITY;
        if (act != null && act.domain().isEmpty() && (act.opType().equals("Relu") || act.opType().equals("Clip"))) {
            if (act.opType().equals("Clip")) {
                Float lo = act.inputs().size() > 1 && !act.input(1).isEmpty() ? ix.scalarFloat(act.input(1), 1) : null;
                Float hi = act.inputs().size() > 2 && !act.input(2).isEmpty() ? ix.scalarFloat(act.input(2), 1) : null;
                if (ix.graph().opset("") < 11 || lo == null || lo != 0f || (act.inputs().size() > 2 && !act.input(2).isEmpty() && hi == null)) {
                    return;
                }
                clipMax = hi == null ? Float.POSITIVE_INFINITY : hi;
            }
            group.add(act);
            y = act.output(0);
        } else {
            act = null;
        }
        Node q = ix.soleConsumer(y, "QuantizeLinear");
        if (q == null || !q.domain().isEmpty() || q.inputs().size() < 2) {
            return;
        }
        Tensor ys = ix.constant(q.input(1));
        String yzName = q.inputs().size() > 2 ? q.input(2) : "";
        Tensor yz = yzName.isEmpty() ? null : ix.constant(yzName);
        if (ys == null || ys.dtype() != DType.FLOAT || ys.size() != 1 || (!yzName.isEmpty() && (yz == null || yz.size() != 1))
                || (yz != null && yz.dtype() != DType.UINT8 && yz.dtype() != DType.INT8)) {
            return;
        }
        if (q.attrs().has("output_dtype") || q.attrs().getInt("saturate", 1) != 1) {
            return;
        }
        DType outType = yz == null ? DType.UINT8 : yz.dtype();
        if (act != null) {
            int qmin = outType == DType.UINT8 ? 0 : -128;
            int qmax = outType == DType.UINT8 ? 255 : 127;
            long z = yz == null ? 0 : yz.getAsLong(0);
            if (z != qmin || clipMax < ys.getFloat(0) * (qmax - z)) {
                return;
            }
        }
        group.add(q);
        String out = q.output(0);
        if (!ix.removable(group, List.of(out))) {
            return;
        }
        String bias = "";
        if (in.size() > 2 && !in.get(2).isEmpty()) {
            int[] b = bias(ix, in.get(2), xs, ws, (int) m);
            if (b == null) {
                return;
            }
            Tensor bt = Tensor.allocate(arena, DType.INT32, Shape.of(m));
            for (int i = 0; i < b.length; i++) {
                bt.data().setAtIndex(Tensor.I32, i, b[i]);
            }
            bias = fresh(constants, conv.name() + "/B_int32");
            constants.put(bias, bt);
        }
        String xz = x.zp;
        String wz = w.zp != null ? w.zp : zero(constants, conv.name() + "/w_zero_point", ix.constant(w.q).dtype());
        String yzIn = !yzName.isEmpty() ? yzName : zero(constants, conv.name() + "/y_zero_point", DType.UINT8);
        List<String> inputs = new ArrayList<>(List.of(x.q, x.node.input(1), xz, w.q, w.node.input(1), wz,
                q.input(1), yzIn));
        if (!bias.isEmpty()) {
            inputs.add(bias);
        }
        rw.replace(group, new Node(conv.name() + "/QLinearConv", "QLinearConv", "", inputs, List.of(out), conv.attrs()));
    }

    /** The input of the DequantizeLinear producing {@code value} (its quantized constant), or "". */
    private static String dqInput(GraphIndex ix, String value) {
        Node d = ix.producer(value, "DequantizeLinear");
        return d == null ? "" : d.input(0);
    }

    /**
     * The int32 bias on scale xs * ws[c]: DQ(B_q int32, bs) whose scale equals that (within float rounding) as is,
     * else a float constant (or DQ of one) requantized; null when the bias is not constant.
     */
    private static int[] bias(GraphIndex ix, String value, float xs, float[] ws, int m) {
        Dq d = dq(ix, value);
        Tensor bq = d == null ? null : ix.constant(d.q);
        int[] out = new int[m];
        if (bq != null && bq.dtype() == DType.INT32 && bq.size() == m && d.zpValue == null
                && (d.scale.size() == 1 || d.scale.size() == m)) {
            boolean same = true;
            for (int c = 0; c < m && same; c++) {
                float want = xs * ws[ws.length == 1 ? 0 : c];
                float got = d.scale.getFloat(d.scale.size() == 1 ? 0 : c);
                same = Math.abs(got - want) <= 1e-6f * Math.abs(want);
            }
            if (same) {
                for (int c = 0; c < m; c++) {
                    out[c] = bq.getInt(c);
                }
                return out;
            }
        }
        float[] b = floatBias(ix, value, m);
        if (b == null) {
            return null;
        }
        for (int c = 0; c < m; c++) {
            double v = Math.rint(b[c] / ((double) xs * ws[ws.length == 1 ? 0 : c]));
            out[c] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
        }
        return out;
    }

    /** A float bias [m]: a float constant, or DequantizeLinear of an int32 constant computed here; else null. */
    private static float[] floatBias(GraphIndex ix, String value, int m) {
        Tensor c = ix.constant(value);
        if (c != null) {
            return c.dtype() == DType.FLOAT && c.size() == m && c.shape().rank() == 1 ? c.toFloatArray() : null;
        }
        Dq d = dq(ix, value);
        Tensor bq = d == null ? null : ix.constant(d.q);
        if (bq == null || bq.dtype() != DType.INT32 || bq.size() != m || bq.shape().rank() != 1
                || (d.scale.size() != 1 && d.scale.size() != m) || (d.zpValue != null && d.zpValue.size() != 1 && d.zpValue.size() != m)) {
            return null;
        }
        float[] b = new float[m];
        for (int i = 0; i < m; i++) {
            long z = d.zpValue == null ? 0 : d.zpValue.getAsLong(d.zpValue.size() == 1 ? 0 : i);
            b[i] = (float) (bq.getInt(i) - z) * d.scale.getFloat(d.scale.size() == 1 ? 0 : i);
        }
        return b;
    }

    private void matmul(GraphIndex ix, Rewriter rw, Map<String, Tensor> constants, Node mm) {
        List<String> in = mm.inputs();
        boolean gemm = mm.opType().equals("Gemm");
        if (in.size() < 2) {
            return;
        }
        Dq x = activation(ix, in.get(0));
        Tensor wq = ix.constant(dqInput(ix, in.get(1)));
        if (x == null || wq == null || wq.shape().rank() != 2) {
            return;
        }
        boolean transB = gemm && mm.attrs().getInt("transB", 0) != 0;
        if (gemm && (mm.attrs().getInt("transA", 0) != 0 || mm.attrs().getFloat("alpha", 1f) != 1f
                || (in.size() > 2 && !in.get(2).isEmpty() && mm.attrs().getFloat("beta", 1f) != 1f))) {
            return;
        }
        long k = wq.shape().dim(transB ? 1 : 0);
        long n = wq.shape().dim(transB ? 0 : 1);
        Dq w = weight(ix, in.get(1), transB ? 0 : 1, n);
        if (w == null) {
            return;
        }
        String y = mm.output(0);
        List<Node> group = new ArrayList<>(List.of(mm));
        String bias = "";
        float[] b = null;
        if (gemm && in.size() > 2 && !in.get(2).isEmpty()) {
            b = floatBias(ix, in.get(2), (int) n);
            if (b == null) {
                return;
            }
        } else if (!gemm) {
            Node add = ix.soleConsumer(y, "Add");
            String other = add == null ? null : GraphIndex.other(add, y);
            Tensor c = other == null ? null : ix.constant(other);
            if (c != null && c.dtype() == DType.FLOAT && c.shape().rank() == 1 && c.size() == n) {
                bias = other;
                group.add(add);
                y = add.output(0);
            }
        }
        if (!ix.removable(group, List.of(y))) {
            return;
        }
        if (b != null) {
            bias = fresh(constants, mm.name() + "/bias");
            constants.put(bias, Tensor.ofFloats(arena, b, n));
        }
        String wName = w.q;
        if (transB) {
            Tensor t = Tensor.allocate(arena, wq.dtype(), Shape.of(k, n));
            for (long r = 0; r < n; r++) {
                for (long c = 0; c < k; c++) {
                    t.data().set(Tensor.I8, c * n + r, wq.data().get(Tensor.I8, r * k + c));
                }
            }
            wName = fresh(constants, mm.name() + "/W_transposed");
            constants.put(wName, t);
        }
        List<String> inputs = List.of(x.q, x.node.input(1), x.zp == null ? "" : x.zp, wName, w.zp == null ? "" : w.zp,
                w.node.input(1), bias);
        rw.replace(group, new Node(mm.name() + "/QuantMatMul", "QuantMatMul", FusedOps.DOMAIN, inputs, List.of(y),
                FusedOps.attributes("activation", "")));
    }

    /** A new scalar zero constant of {@code dtype}. */
    private String zero(Map<String, Tensor> constants, String base, DType dtype) {
        String name = fresh(constants, base);
        constants.put(name, Tensor.allocate(arena, dtype, Shape.scalar()));
        return name;
    }

    private static String fresh(Map<String, Tensor> constants, String base) {
        String name = base;
        for (int i = 1; constants.containsKey(name); i++) {
            name = base + "_" + i;
        }
        return name;
    }

}
