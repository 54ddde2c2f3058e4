package dev.gatun.engine.ops;

import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.PackedB;
import dev.gatun.engine.cpu.SpmmChain;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.function.Supplier;

/**
 * {@code dev.gatun:FusedFeedForward(A [..., M, K], W1 [K, N1], bias1 [N1]?, W2 [N1, N2], bias2 [N2]?, residual?)},
 * attributes {@code hidden_activation} and {@code activation} ("", "Relu", "Gelu", "GeluTanh"):
 * {@code Y = act(act_h(A x W1 + bias1) x W2 + bias2) + residual}, Y [..., M, N2]: two FusedMatMuls in a row
 * ({@code graph/passes/FeedForwardFusion} makes it from them when both weights are pruned).
 *
 * <p>Each weight is planned as a FusedMatMul's ({@link SparsePlanner}). When both run sparse at this M and
 * {@link SpmmChain#fused} accepts the call, the chain runs fused: the hidden activations stay in the sparse kernels'
 * transposed layout, per row block, and never go to memory. Otherwise the two products run one after the other as
 * two FusedMatMuls would (the hidden tensor from the context). Either way the results are bit-equal to the two
 * FusedMatMuls'. {@code gatun inspect} shows both weights' choices.
 */
final class FeedForwardKernel {
    private FeedForwardKernel() {}

    static Planned plan(NodeSpec node) {
        FusedOps.requireFloats(node);
        Tensor w1 = node.constant(1);
        Tensor w2 = node.hasInput(3) ? node.constant(3) : null;
        if (!node.hasInput(0) || w1 == null || w2 == null || w1.shape().rank() != 2 || w2.shape().rank() != 2) {
            throw node.unsupported("FusedFeedForward without A and constant 2-D W1 and W2");
        }
        if (w2.shape().dim(0) != w1.shape().dim(1)) {
            throw node.error("W1 " + w1.shape() + " and W2 " + w2.shape() + " do not chain");
        }
        int hiddenAct = activation(node, "hidden_activation");
        int act = activation(node, "activation");
        Weight first = weight(node, w1, "W1");
        Weight second = weight(node, w2, "W2");
        node.noteKernel("W1 " + first.note + "; W2 " + second.note);
        FusedOps.MatMulMemo memo1 = new FusedOps.MatMulMemo();
        FusedOps.MatMulMemo memo2 = new FusedOps.MatMulMemo();
        FusedOps.MatMulMemo chain1 = new FusedOps.MatMulMemo();
        FusedOps.MatMulMemo chain2 = new FusedOps.MatMulMemo();
        Memo<Tensor[]> outputs = new Memo<>();
        Kernel add = node.hasInput(5) ? FusedOps.addKernel() : null;
        return Planned.of((ctx, in) -> {
            Tensor a = in[0];
            Tensor bias1 = in.length > 2 ? in[2] : null;
            Tensor bias2 = in.length > 4 ? in[4] : null;
            Tensor res = in.length > 5 ? in[5] : null;
            Tensor y = chained(ctx, node, a, first, second, bias1, hiddenAct, bias2, act, res, chain1, chain2);
            if (y == null) {
                Tensor h = FusedOps.matMulEpilogue(ctx, node, a, w1, first.packed, first.sparse, bias1, hiddenAct,
                        null, memo1);
                y = FusedOps.matMulEpilogue(ctx, node, h, w2, second.packed, second.sparse, bias2, act, res, memo2);
            }
            if (res != null && !res.shape().equals(y.shape())) {
                return add.run(ctx, new Tensor[] {y, res});
            }
            return Memo.outputs(outputs, y);
        }, DType.FLOAT);
    }

    /** A weight's plan: sparse (or null) and the dense packing when some M runs dense. */
    private record Weight(SparsePlanner.Choice sparse, PackedB packed, String note) {}

    private static Weight weight(NodeSpec node, Tensor w, String name) {
        int k = MatMulOps.toInt(node, w.shape().dim(0));
        int n = MatMulOps.toInt(node, w.shape().dim(1));
        Supplier<PackedB> dense = () -> node.prepack().get("sgemm-packed-b", w, "",
                arena -> PackedB.pack(arena, false, k, n, w.data(), 0, n));
        SparsePlanner.Choice sparse = SparsePlanner.plan(node, w, false, dense);
        String note = node.kernelNote() == null ? "dense" : node.kernelNote();
        return new Weight(sparse, sparse == null ? dense.get() : null, note);
    }

    private static int activation(NodeSpec node, String attribute) {
        String name = node.attrs().getString(attribute, "");
        int code = FusedOps.activationCode(name);
        if (code < 0) {
            throw node.unsupported(attribute + " '" + name + "' (supported: \"\", Relu, Gelu, GeluTanh)");
        }
        return code;
    }

    /** Y by {@link SpmmChain} when both weights run sparse at this M and it accepts the call, else null. */
    private static Tensor chained(KernelContext ctx, NodeSpec node, Tensor a, Weight first, Weight second,
                                  Tensor bias1, int hiddenAct, Tensor bias2, int act, Tensor res,
                                  FusedOps.MatMulMemo memo1, FusedOps.MatMulMemo memo2) {
        Shape as = a.shape();
        if (first.sparse == null || second.sparse == null || as.rank() < 2) {
            return null;
        }
        int k = first.sparse.sparse().k();
        int hidden = first.sparse.sparse().n();
        int n = second.sparse.sparse().n();
        if (as.dim(as.rank() - 1) != k || bias1 != null && (bias1.shape().rank() != 1 || bias1.size() != hidden)
                || bias2 != null && (bias2.shape().rank() != 1 || bias2.size() != n)) {
            return null;
        }
        int rows = MatMulOps.toInt(node, as.sizeOf(0, as.rank() - 1));
        if (rows < 2 || !first.sparse.sparseAt(rows) || !second.sparse.sparseAt(rows)) {
            return null;
        }
        Shape ys = withLastDim(memo2, as, n);
        Shape hs = withLastDim(memo1, as, hidden);
        Epilogue e1 = FusedOps.epilogue(memo1, hiddenAct, bias1, null, hs);
        if (!SpmmChain.fused(ctx, rows, first.sparse.sparse(), e1, second.sparse.sparse())) {
            return null;
        }
        Epilogue e2 = FusedOps.epilogue(memo2, act, bias2, res != null && res.shape().equals(ys) ? res : null, ys);
        Tensor y = ctx.allocate(DType.FLOAT, ys);
        SpmmChain.multiply(ctx, rows, a.data(), 0, k, first.sparse.sparse(), e1, second.sparse.sparse(), y.data(), 0,
                n, e2);
        return y;
    }

    /** {@code as} with its last dim set to {@code n}, cached in {@code memo} by the identity of {@code as}. */
    private static Shape withLastDim(FusedOps.MatMulMemo memo, Shape as, int n) {
        Shape s = memo.shape.get(as, null, null);
        if (s == null) {
            long[] dims = as.dims();
            dims[dims.length - 1] = n;
            s = memo.shape.put(as, null, null, Shape.of(dims));
        }
        return s;
    }
}
