package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.Elementwise.ALL;
import static dev.gatun.engine.ops.Elementwise.INTS;
import static dev.gatun.engine.ops.Elementwise.NUMERIC;
import static dev.gatun.engine.ops.Elementwise.UNSIGNED;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.LongBinaryOperator;
import java.util.function.LongUnaryOperator;

/**
 * Comparisons, logic, bit operations and Where.
 *
 * <p>Specs (https://onnx.ai/onnx/operators/onnx__&lt;Op&gt;.html): Equal, Less, LessOrEqual, Greater, GreaterOrEqual,
 * And, Or, Xor, Not, BitShift, BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot, Where.
 *
 * <ul>
 * <li>Comparisons: {@code C[i] = A[i] op B[i]} (bool out), numpy broadcasting (opset 7+, before that the
 *     {@code broadcast}/{@code axis} attributes); NaN compares false (Equal too); uint64 compares unsigned;
 *     Equal also takes bool and string.</li>
 * <li>And/Or/Xor: bool in, bool out, broadcasting; Not: bool elementwise.</li>
 * <li>BitShift: unsigned integers, {@code direction} LEFT or RIGHT; shifting by the bit width or more gives 0.
 *     BitwiseAnd/Or/Xor/Not: any integer type.</li>
 * <li>Where: {@code out[i] = cond[i] ? X[i] : Y[i]}, the three inputs broadcast together, any element type.</li>
 * </ul>
 * Layout: contiguous row-major in and out; bool is one byte (0 or 1).
 */
public final class LogicOps implements OpFamily {
    private static final int EQ = 0, LT = 1, LE = 2, GT = 3, GE = 4;
    private static final DType[] BOOL = {DType.BOOL};
    private static final DType[] EQ_TYPES = Elementwise.concat(ALL, new DType[] {DType.STRING});

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Equal", EQ_TYPES), OpInfo.of("Less", NUMERIC), OpInfo.of("Greater", NUMERIC),
                OpInfo.of("LessOrEqual", 12, NUMERIC), OpInfo.of("GreaterOrEqual", 12, NUMERIC),
                OpInfo.of("And", BOOL), OpInfo.of("Or", BOOL), OpInfo.of("Xor", BOOL), OpInfo.of("Not", BOOL),
                OpInfo.of("BitShift", 11, UNSIGNED), OpInfo.of("BitwiseAnd", 18, INTS), OpInfo.of("BitwiseOr", 18, INTS),
                OpInfo.of("BitwiseXor", 18, INTS), OpInfo.of("BitwiseNot", 18, INTS),
                OpInfo.of("Where", 9, EQ_TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Equal" -> compare(node, EQ, EQ_TYPES);
            case "Less" -> compare(node, LT, NUMERIC);
            case "LessOrEqual" -> compare(node, LE, NUMERIC);
            case "Greater" -> compare(node, GT, NUMERIC);
            case "GreaterOrEqual" -> compare(node, GE, NUMERIC);
            case "And" -> logic(node, (x, y) -> x & y);
            case "Or" -> logic(node, (x, y) -> x | y);
            case "Xor" -> logic(node, (x, y) -> x ^ y);
            case "Not" -> unaryBits(node, BOOL, x -> x ^ 1);
            case "BitShift" -> bitShift(node);
            case "BitwiseAnd" -> bitwise(node, (x, y) -> x & y);
            case "BitwiseOr" -> bitwise(node, (x, y) -> x | y);
            case "BitwiseXor" -> bitwise(node, (x, y) -> x ^ y);
            case "BitwiseNot" -> unaryBits(node, INTS, x -> ~x);
            case "Where" -> where(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    private Planned compare(NodeSpec node, int op, DType[] allowed) {
        DType t = BinaryOps.sameTypes(node, allowed);
        Elementwise.Row2 row;
        if (t == DType.FLOAT) {
            row = (a, ao, as, b, bo, bs, o, oo, n) -> compareF32(op, a.data(), ao, as, b.data(), bo, bs, o.data(), oo, n);
        } else if (t == DType.STRING) {
            row = (a, ao, as, b, bo, bs, o, oo, n) -> {
                String[] x = a.strings();
                String[] y = b.strings();
                for (long i = 0; i < n; i++) {
                    o.setLong(oo + i, x[(int) (ao + i * as)].equals(y[(int) (bo + i * bs)]) ? 1 : 0);
                }
            };
        } else if (t.isFloating()) {
            row = (a, ao, as, b, bo, bs, o, oo, n) -> {
                for (long i = 0; i < n; i++) {
                    o.setLong(oo + i, test(op, a.getDouble(ao + i * as), b.getDouble(bo + i * bs)) ? 1 : 0);
                }
            };
        } else {
            boolean u64 = Elementwise.isU64(t);
            row = (a, ao, as, b, bo, bs, o, oo, n) -> {
                for (long i = 0; i < n; i++) {
                    long x = a.getAsLong(ao + i * as);
                    long y = b.getAsLong(bo + i * bs);
                    int c = u64 ? Long.compareUnsigned(x, y) : Long.compare(x, y);
                    o.setLong(oo + i, test(op, c, 0) ? 1 : 0);
                }
            };
        }
        return Planned.of(BinaryOps.binaryKernel(node, DType.BOOL, row), DType.BOOL);
    }

    private static void compareF32(int op, MemorySegment a, long ao, long as, MemorySegment b, long bo, long bs,
                                   MemorySegment o, long oo, long n) {
        switch (op) {
            case EQ -> {
                for (long i = 0; i < n; i++) {
                    o.set(Tensor.I8, oo + i, (byte) (a.getAtIndex(Tensor.F32, ao + i * as) == b.getAtIndex(Tensor.F32, bo + i * bs) ? 1 : 0));
                }
            }
            case LT -> {
                for (long i = 0; i < n; i++) {
                    o.set(Tensor.I8, oo + i, (byte) (a.getAtIndex(Tensor.F32, ao + i * as) < b.getAtIndex(Tensor.F32, bo + i * bs) ? 1 : 0));
                }
            }
            case LE -> {
                for (long i = 0; i < n; i++) {
                    o.set(Tensor.I8, oo + i, (byte) (a.getAtIndex(Tensor.F32, ao + i * as) <= b.getAtIndex(Tensor.F32, bo + i * bs) ? 1 : 0));
                }
            }
            case GT -> {
                for (long i = 0; i < n; i++) {
                    o.set(Tensor.I8, oo + i, (byte) (a.getAtIndex(Tensor.F32, ao + i * as) > b.getAtIndex(Tensor.F32, bo + i * bs) ? 1 : 0));
                }
            }
            default -> {
                for (long i = 0; i < n; i++) {
                    o.set(Tensor.I8, oo + i, (byte) (a.getAtIndex(Tensor.F32, ao + i * as) >= b.getAtIndex(Tensor.F32, bo + i * bs) ? 1 : 0));
                }
            }
        }
    }

    private static boolean test(int op, double x, double y) {
        return switch (op) {
            case EQ -> x == y;
            case LT -> x < y;
            case LE -> x <= y;
            case GT -> x > y;
            default -> x >= y;
        };
    }

    /** A bool op on bytes (0/1). */
    @FunctionalInterface
    private interface ByteOp {
        int apply(int x, int y);
    }

    private Planned logic(NodeSpec node, ByteOp f) {
        BinaryOps.sameTypes(node, BOOL);
        Elementwise.Row2 row = (a, ao, as, b, bo, bs, o, oo, n) -> {
            MemorySegment x = a.data();
            MemorySegment y = b.data();
            MemorySegment z = o.data();
            for (long i = 0; i < n; i++) {
                int v = f.apply(x.get(Tensor.I8, ao + i * as) != 0 ? 1 : 0, y.get(Tensor.I8, bo + i * bs) != 0 ? 1 : 0);
                z.set(Tensor.I8, oo + i, (byte) v);
            }
        };
        return Planned.of(BinaryOps.binaryKernel(node, DType.BOOL, row), DType.BOOL);
    }

    private Planned bitwise(NodeSpec node, LongBinaryOperator f) {
        DType t = BinaryOps.sameTypes(node, INTS);
        return Planned.of(BinaryOps.binaryKernel(node, t, Elementwise.viaLong(f)), t);
    }

    private Planned unaryBits(NodeSpec node, DType[] allowed, LongUnaryOperator f) {
        DType t = node.requireType(0, allowed);
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Tensor o = ctx.allocate(t, x.shape());
            long n = x.size();
            if (t == DType.BOOL) {
                MemorySegment s = x.data();
                MemorySegment d = o.data();
                for (long i = 0; i < n; i++) {
                    d.set(Tensor.I8, i, (byte) (s.get(Tensor.I8, i) != 0 ? 0 : 1));
                }
            } else {
                for (long i = 0; i < n; i++) {
                    o.setLong(i, f.applyAsLong(x.getAsLong(i)));
                }
            }
            return new Tensor[] {o};
        }, t);
    }

    private Planned bitShift(NodeSpec node) {
        DType t = BinaryOps.sameTypes(node, UNSIGNED);
        String dir = node.attrs().getString("direction", "");
        boolean left = switch (dir) {
            case "LEFT" -> true;
            case "RIGHT" -> false;
            default -> throw node.unsupported("direction '" + dir + "' (must be LEFT or RIGHT)");
        };
        long bits = t.byteSize() * 8L;
        Elementwise.Row2 row = Elementwise.viaLong((x, s) -> {
            if (Long.compareUnsigned(s, bits) >= 0) {
                return 0;
            }
            return left ? x << s : x >>> s;
        });
        return Planned.of(BinaryOps.binaryKernel(node, t, row), t);
    }

    private Planned where(NodeSpec node) {
        node.requireType(0, BOOL);
        DType t = node.requireType(1, EQ_TYPES);
        if (node.inputType(2) != t) {
            throw node.unsupported("X and Y of different types " + t + " and " + node.inputType(2));
        }
        return Planned.of((ctx, in) -> {
            Tensor c = in[0];
            Tensor x = in[1];
            Tensor y = in[2];
            Shape out = Elementwise.broadcastShape(node, c.shape(), x.shape(), y.shape());
            Tensor o = ctx.allocate(t, out);
            Broadcast p = Broadcast.plan(out, c.shape(), x.shape(), y.shape());
            long sc = p.innerStride(0);
            long sx = p.innerStride(1);
            long sy = p.innerStride(2);
            long n = p.inner();
            MemorySegment cs = c.data();
            if (t == DType.STRING) {
                String[] xs = x.strings();
                String[] ys = y.strings();
                String[] os = o.strings();
                p.forEachRow((oo, off) -> {
                    for (long i = 0; i < n; i++) {
                        boolean take = cs.get(Tensor.I8, off[0] + i * sc) != 0;
                        os[(int) (oo + i)] = take ? xs[(int) (off[1] + i * sx)] : ys[(int) (off[2] + i * sy)];
                    }
                });
                return new Tensor[] {o};
            }
            int es = t.byteSize();
            MemorySegment xd = x.data();
            MemorySegment yd = y.data();
            MemorySegment od = o.data();
            p.forEachRow((oo, off) -> {
                for (long i = 0; i < n; i++) {
                    boolean take = cs.get(Tensor.I8, off[0] + i * sc) != 0;
                    if (take) {
                        copyElement(xd, off[1] + i * sx, od, oo + i, es);
                    } else {
                        copyElement(yd, off[2] + i * sy, od, oo + i, es);
                    }
                }
            });
            return new Tensor[] {o};
        }, t);
    }

    private static void copyElement(MemorySegment src, long from, MemorySegment dst, long to, int es) {
        switch (es) {
            case 1 -> dst.set(Tensor.I8, to, src.get(Tensor.I8, from));
            case 2 -> dst.setAtIndex(Tensor.I16, to, src.getAtIndex(Tensor.I16, from));
            case 4 -> dst.setAtIndex(Tensor.I32, to, src.getAtIndex(Tensor.I32, from));
            default -> dst.setAtIndex(Tensor.I64, to, src.getAtIndex(Tensor.I64, from));
        }
    }
}
