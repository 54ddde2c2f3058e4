package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LayoutOpsTest {
    private static final DType[] SIZES = {DType.FLOAT, DType.INT8, DType.FLOAT16, DType.INT64, DType.STRING};
    private static final long[] ODD = {1, 7, 17, 33, 2, 3};

    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(7);

    @AfterEach
    void close() {
        arena.close();
    }

    private long[] randomDims(int rank, long max) {
        long[] d = new long[rank];
        for (int k = 0; k < rank; k++) {
            d[k] = 1 + rnd.nextInt((int) max);
        }
        return d;
    }

    /** Asserts out[i] == in[src(out index)] for every output element. */
    private static void assertGather(Tensor in, Tensor out, Function<long[], long[]> src) {
        long[] od = out.shape().dims();
        long[] id = in.shape().dims();
        for (long f = 0; f < out.size(); f++) {
            long[] idx = unflat(f, od);
            long[] s = src.apply(idx);
            assertEquals(elem(in, flat(s, id)), elem(out, f), () -> "at " + Arrays.toString(idx) + " of " + out);
        }
    }

    private static List<int[]> permutations(int n) {
        List<int[]> all = new ArrayList<>();
        permute(new int[n], new boolean[n], 0, all);
        return all;
    }

    private static void permute(int[] p, boolean[] used, int k, List<int[]> all) {
        if (k == p.length) {
            all.add(p.clone());
            return;
        }
        for (int i = 0; i < p.length; i++) {
            if (!used[i]) {
                used[i] = true;
                p[k] = i;
                permute(p, used, k + 1, all);
                used[i] = false;
            }
        }
    }

    @Test
    void transposeEveryPermutationAndDtype() {
        for (int rank = 1; rank <= 4; rank++) {
            for (DType t : SIZES) {
                Tensor in = random(arena, rnd, t, randomDims(rank, 9));
                for (int[] perm : permutations(rank)) {
                    Tensor out = run1(arena, "Transpose", 13, attrs("perm", Arrays.stream(perm).asLongStream().toArray()), in);
                    assertGather(in, out, idx -> {
                        long[] s = new long[idx.length];
                        for (int k = 0; k < perm.length; k++) {
                            s[perm[k]] = idx[k];
                        }
                        return s;
                    });
                }
            }
        }
    }

    @Test
    void transposeLargeBlockedAndDefault() {
        for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE, DType.UINT8, DType.BFLOAT16}) {
            Tensor in = random(arena, rnd, t, 3, 67, 45);
            Tensor out = run1(arena, "Transpose", 1, attrs("perm", new long[] {0, 2, 1}), in);
            assertEquals(Shape.of(3, 45, 67), out.shape());
            assertGather(in, out, i -> new long[] {i[0], i[2], i[1]});
            Tensor rev = run1(arena, "Transpose", 21, Attributes.empty(), in);
            assertEquals(Shape.of(45, 67, 3), rev.shape());
            assertGather(in, rev, i -> new long[] {i[2], i[1], i[0]});
        }
        Tensor e = random(arena, rnd, DType.FLOAT, 0, 5);
        assertEquals(Shape.of(5, 0), run1(arena, "Transpose", 13, Attributes.empty(), e).shape());
        Tensor in = random(arena, rnd, DType.FLOAT, 2, 3);
        EngineException ex = assertThrows(EngineException.class,
                () -> run1(arena, "Transpose", 13, attrs("perm", new long[] {0, 0}), in));
        assertTrue(ex.getMessage().contains("Transpose_0"), ex.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Transpose", 13, attrs("perm", new long[] {0, 1, 2}), in));
    }

    @Test
    void concatAnyAxisWithEmptyInputs() {
        for (DType t : SIZES) {
            for (int rank = 1; rank <= 4; rank++) {
                long[] base = randomDims(rank, 6);
                for (int axis = -rank; axis < rank; axis++) {
                    int a = axis < 0 ? axis + rank : axis;
                    Tensor[] ins = new Tensor[3];
                    long[] offsets = new long[4];
                    for (int i = 0; i < 3; i++) {
                        long[] d = base.clone();
                        d[a] = i == 1 ? 0 : ODD[rnd.nextInt(4)];
                        ins[i] = random(arena, rnd, t, d);
                        offsets[i + 1] = offsets[i] + d[a];
                    }
                    Tensor out = run1(arena, "Concat", 13, attrs("axis", (long) axis), ins);
                    assertEquals(offsets[3], out.shape().dim(a));
                    long[] od = out.shape().dims();
                    for (long f = 0; f < out.size(); f++) {
                        long[] idx = unflat(f, od);
                        int which = 0;
                        while (idx[a] >= offsets[which + 1]) {
                            which++;
                        }
                        idx[a] -= offsets[which];
                        assertEquals(elem(ins[which], flat(idx, ins[which].shape().dims())), elem(out, f));
                    }
                }
            }
        }
        Tensor a = random(arena, rnd, DType.FLOAT, 2, 3);
        Tensor b = random(arena, rnd, DType.FLOAT, 3, 3);
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "Concat", 11, attrs("axis", 1L), a, b));
        assertTrue(e.getMessage().contains("[2,3]") && e.getMessage().contains("[3,3]"), e.getMessage());
        assertEquals(Shape.of(2, 6), run1(arena, "Concat", 1, Attributes.empty(), a, a).shape());
        assertThrows(EngineException.class, () -> run1(arena, "Concat", 4, Attributes.empty(), a, a));
    }

    @Test
    void splitAllForms() {
        Tensor in = random(arena, rnd, DType.FLOAT, 3, 7, 5);
        // opset 2-12: split attribute
        Tensor[] outs = run(arena, "Split", 11, attrs("axis", -2L, "split", new long[] {2, 0, 5}), 3, in);
        checkSplit(in, outs, 1, new long[] {2, 0, 5});
        // opset 13: split input
        outs = run(arena, "Split", 13, attrs("axis", 1L), 2, in, longs(arena, 6, 1));
        checkSplit(in, outs, 1, new long[] {6, 1});
        // equal parts from the output count
        outs = run(arena, "Split", 13, attrs("axis", 2L), 5, in);
        checkSplit(in, outs, 2, new long[] {1, 1, 1, 1, 1});
        outs = run(arena, "Split", 7, Attributes.empty(), 3, in);
        checkSplit(in, outs, 0, new long[] {1, 1, 1});
        // opset 18 num_outputs: ceil chunks, last smaller
        outs = run(arena, "Split", 18, attrs("axis", 1L, "num_outputs", 4L), 4, in);
        checkSplit(in, outs, 1, new long[] {2, 2, 2, 1});
        Tensor s = random(arena, rnd, DType.STRING, 4, 3);
        checkSplit(s, run(arena, "Split", 18, attrs("axis", 1L), 2, s, longs(arena, 1, 2)), 1, new long[] {1, 2});
        EngineException e = assertThrows(EngineException.class, () -> run(arena, "Split", 13, attrs("axis", 1L), 2, in));
        assertTrue(e.getMessage().contains("Split_0") && e.getMessage().contains("[3,7,5]"), e.getMessage());
        assertThrows(EngineException.class, () -> run(arena, "Split", 13, attrs("axis", 1L), 2, in, longs(arena, 3, 3)));
        assertThrows(EngineException.class, () -> run(arena, "Split", 18, attrs("num_outputs", 3L), 2, in));
    }

    private static void checkSplit(Tensor in, Tensor[] outs, int axis, long[] sizes) {
        assertEquals(sizes.length, outs.length);
        long off = 0;
        for (int i = 0; i < outs.length; i++) {
            long o = off;
            assertEquals(sizes[i], outs[i].shape().dim(axis));
            assertGather(in, outs[i], idx -> {
                long[] s = idx.clone();
                s[axis] += o;
                return s;
            });
            off += sizes[i];
        }
    }

    /** Reference Slice of one axis: the source indices selected. */
    private static long[] sliceIndices(long d, long start, long end, long step) {
        List<Long> l = new ArrayList<>();
        long s = start < 0 ? start + d : start;
        long e = end < 0 ? end + d : end;
        if (step > 0) {
            s = Math.max(0, Math.min(d, s));
            e = Math.max(0, Math.min(d, e));
            for (long i = s; i < e; i += step) {
                l.add(i);
            }
        } else {
            s = Math.max(-1, Math.min(d - 1, s));
            e = Math.max(-1, Math.min(d - 1, e));
            for (long i = s; i > e; i += step) {
                l.add(i);
            }
        }
        return l.stream().mapToLong(Long::longValue).toArray();
    }

    @Test
    void sliceRandomAgainstReference() {
        for (int trial = 0; trial < 60; trial++) {
            int rank = 1 + rnd.nextInt(4);
            long[] dims = randomDims(rank, 12);
            DType t = SIZES[trial % SIZES.length];
            Tensor in = random(arena, rnd, t, dims);
            int n = 1 + rnd.nextInt(rank);
            List<Integer> axesList = new ArrayList<>();
            for (int k = 0; k < rank; k++) {
                axesList.add(k);
            }
            java.util.Collections.shuffle(axesList, rnd);
            long[] axes = new long[n];
            long[] starts = new long[n];
            long[] ends = new long[n];
            long[] steps = new long[n];
            long[][] picked = new long[rank][];
            for (int k = 0; k < rank; k++) {
                picked[k] = sliceIndices(dims[k], 0, dims[k], 1);
            }
            for (int i = 0; i < n; i++) {
                int a = axesList.get(i);
                axes[i] = rnd.nextBoolean() ? a : a - rank;
                starts[i] = rnd.nextInt(30) - 15;
                ends[i] = rnd.nextInt(8) == 0 ? (rnd.nextBoolean() ? Long.MAX_VALUE : Long.MIN_VALUE) : rnd.nextInt(30) - 15;
                steps[i] = rnd.nextBoolean() ? 1 + rnd.nextInt(3) : -1 - rnd.nextInt(3);
                picked[a] = sliceIndices(dims[a], starts[i], ends[i], steps[i]);
            }
            Tensor out = run1(arena, "Slice", 13, Attributes.empty(), in, longs(arena, starts), longs(arena, ends),
                    longs(arena, axes), longs(arena, steps));
            for (int k = 0; k < rank; k++) {
                assertEquals(picked[k].length, out.shape().dim(k), "axis " + k);
            }
            assertGather(in, out, idx -> {
                long[] s = new long[idx.length];
                for (int k = 0; k < idx.length; k++) {
                    s[k] = picked[k][(int) idx[k]];
                }
                return s;
            });
        }
    }

    @Test
    void sliceOldOpsetAndDefaults() {
        Tensor in = random(arena, rnd, DType.FLOAT, 20, 10, 5);
        Tensor old = run1(arena, "Slice", 1, attrs("starts", new long[] {0, 0}, "ends", new long[] {3, 10}, "axes", new long[] {0, 1}), in);
        assertEquals(Shape.of(3, 10, 5), old.shape());
        assertGather(in, old, i -> i);
        Tensor noAxes = run1(arena, "Slice", 9, attrs("starts", new long[] {1, -3}, "ends", new long[] {-1, 1000}), in);
        assertEquals(Shape.of(18, 3, 5), noAxes.shape());
        assertGather(in, noAxes, i -> new long[] {i[0] + 1, i[1] + 7, i[2]});
        Tensor i32 = run1(arena, "Slice", 10, Attributes.empty(), in, Tensor.ofInts(arena, new int[] {2}, 1),
                Tensor.ofInts(arena, new int[] {4}, 1), Tensor.ofInts(arena, new int[] {2}, 1));
        assertEquals(Shape.of(20, 10, 2), i32.shape());
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "Slice", 13, Attributes.empty(), in,
                longs(arena, 0), longs(arena, 1), longs(arena, 0), longs(arena, 0)));
        assertTrue(e.getMessage().contains("Slice_0"), e.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Slice", 13, Attributes.empty(), in,
                longs(arena, 0), longs(arena, 1), longs(arena, 3)));
    }

    @Test
    void tileAgainstModulo() {
        for (DType t : SIZES) {
            for (int rank = 1; rank <= 4; rank++) {
                long[] dims = randomDims(rank, 5);
                long[] reps = new long[rank];
                for (int k = 0; k < rank; k++) {
                    reps[k] = rnd.nextInt(4);
                }
                reps[rank - 1] = Math.max(1, reps[rank - 1]);
                Tensor in = random(arena, rnd, t, dims);
                Tensor out = run1(arena, "Tile", 13, Attributes.empty(), in, longs(arena, reps));
                for (int k = 0; k < rank; k++) {
                    assertEquals(dims[k] * reps[k], out.shape().dim(k));
                }
                assertGather(in, out, idx -> {
                    long[] s = new long[idx.length];
                    for (int k = 0; k < idx.length; k++) {
                        s[k] = idx[k] % dims[k];
                    }
                    return s;
                });
            }
        }
        Tensor in = random(arena, rnd, DType.FLOAT, 2, 3);
        assertThrows(EngineException.class, () -> run1(arena, "Tile", 13, Attributes.empty(), in, longs(arena, 2)));
    }

    @Test
    void depthToSpaceAndBack() {
        long b = 2;
        Tensor in = random(arena, rnd, DType.FLOAT, 2, 12, 3, 5);
        Tensor dcr = run1(arena, "DepthToSpace", 13, attrs("blocksize", b), in);
        assertEquals(Shape.of(2, 3, 6, 10), dcr.shape());
        // DCR: out[n, c, h*b + i, w*b + j] = in[n, (i*b + j)*C' + c, h, w]
        assertGather(in, dcr, o -> new long[] {o[0], ((o[2] % b) * b + o[3] % b) * 3 + o[1], o[2] / b, o[3] / b});
        Tensor crd = run1(arena, "DepthToSpace", 11, attrs("blocksize", b, "mode", "CRD"), in);
        // CRD: out[n, c, h*b + i, w*b + j] = in[n, c*b*b + i*b + j, h, w]
        assertGather(in, crd, o -> new long[] {o[0], o[1] * b * b + (o[2] % b) * b + o[3] % b, o[2] / b, o[3] / b});
        Tensor back = run1(arena, "SpaceToDepth", 13, attrs("blocksize", b), dcr);
        assertEquals(in.shape(), back.shape());
        assertArrayEquals(in.toFloatArray(), back.toFloatArray());
        assertThrows(EngineException.class, () -> run1(arena, "DepthToSpace", 13, attrs("blocksize", 5L), in));
        assertThrows(EngineException.class, () -> run1(arena, "DepthToSpace", 13, attrs("blocksize", 2L, "mode", "XYZ"), in));
        assertThrows(EngineException.class, () -> run1(arena, "SpaceToDepth", 13, attrs("blocksize", 2L), in));
    }

    @Test
    void reverseSequenceBothLayouts() {
        Tensor in = random(arena, rnd, DType.FLOAT, 4, 3, 5);
        long[] lens = {4, 0, 2};
        Tensor out = run1(arena, "ReverseSequence", 10, attrs("batch_axis", 1L, "time_axis", 0L), in, longs(arena, lens));
        assertGather(in, out, o -> new long[] {o[0] < lens[(int) o[1]] ? lens[(int) o[1]] - 1 - o[0] : o[0], o[1], o[2]});
        Tensor in2 = random(arena, rnd, DType.INT64, 3, 4);
        Tensor out2 = run1(arena, "ReverseSequence", 10, attrs("batch_axis", 0L, "time_axis", 1L), in2, longs(arena, 1, 3, 4));
        long[] l2 = {1, 3, 4};
        assertGather(in2, out2, o -> new long[] {o[0], o[1] < l2[(int) o[0]] ? l2[(int) o[0]] - 1 - o[1] : o[1]});
        assertThrows(EngineException.class,
                () -> run1(arena, "ReverseSequence", 10, Attributes.empty(), in, longs(arena, 5, 1, 1)));
    }
}
