package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Shape;
import java.lang.foreign.MemorySegment;

/**
 * The state of one SpMM parallel region (A, the weight, C, the epilogue, the blocking; {@link SpmmChain}'s and
 * {@link SpmmTwoFour}'s extras): one reused object per calling thread, set before the region and cleared after,
 * instead of a capturing lambda per call (the steady-state runs allocate nothing). Workers read it after the
 * pool's hand-off.
 */
final class SpmmRegion {
    private static final int VL = SgemmKernel.VL;

    MemorySegment a;
    long aOff;
    long aAt;
    int lda;
    int m;
    int nv;
    int mb;
    SparseB b;
    MemorySegment c;
    long cOff;
    long cAt;
    int ldc;
    Epilogue e;
    long atAddr;
    int kChunks;
    int nChunks;
    /** SpmmChain: the second weight, the hidden epilogue and its bias' address (-1 when none). */
    SparseB b2;
    Epilogue h;
    long biasAt;
    /** SpmmTwoFour: the weight's sorted layout and its group and chunk counts. */
    Object layout;
    int groups;
    int chunks;

    /** The last shared transposed A's shape (a steady state asks for the same size run after run). */
    private Shape atShape = Shape.of(0);

    Shape atShape(long floats) {
        if (atShape.dim(0) != floats) {
            atShape = Shape.of(floats);
        }
        return atShape;
    }

    private static final ThreadLocal<SpmmRegion> CURRENT = ThreadLocal.withInitial(SpmmRegion::new);

    /** The calling thread's region object, set for A, B, C and the epilogue (nv vectors per row block). */
    static SpmmRegion of(MemorySegment a, long aOff, long aAt, int lda, int m, SparseB b, MemorySegment c, long cOff,
                          long cAt, int ldc, Epilogue e, int nv) {
        SpmmRegion r = CURRENT.get();
        r.a = a;
        r.aOff = aOff;
        r.aAt = aAt;
        r.lda = lda;
        r.m = m;
        r.b = b;
        r.c = c;
        r.cOff = cOff;
        r.cAt = cAt;
        r.ldc = ldc;
        r.e = e;
        r.nv = nv;
        r.mb = nv * VL;
        return r;
    }

    /** Drops the references (segments, weights) the region held. */
    void clear() {
        a = null;
        b = null;
        c = null;
        e = null;
        b2 = null;
        h = null;
        layout = null;
    }

    /**
     * Runs {@code body(from, to)} over [0, units) cut into {@code tasks} ranges, through the calling thread's reusable
     * {@link Split} (no task object allocated per call).
     */
    static void run(KernelContext ctx, int tasks, int units, RangeBody body) {
        if (tasks <= 1) {
            body.run(0, units);
            return;
        }
        Split split = SPLIT.get();
        split.body = body;
        split.tasks = tasks;
        split.units = units;
        try {
            ctx.parallelFor(tasks, split);
        } finally {
            split.body = null;
        }
    }

    /**
     * {@link #run} with the region's state in {@code r} (the calling thread's region object) and a non-capturing
     * {@code body} (a static method): nothing allocated per call.
     */
    static void run(KernelContext ctx, int tasks, int units, SpmmRegion r, RegionBody body) {
        RegionTask task = REGION_TASK.get();
        task.region = r;
        task.body = body;
        try {
            run(ctx, tasks, units, task);
        } finally {
            task.region = null;
        }
    }

    /** A region's work over units [from, to) given its state. */
    @FunctionalInterface
    interface RegionBody {
        void run(SpmmRegion r, int from, int to);
    }

    private static final class RegionTask implements RangeBody {
        private SpmmRegion region;
        private RegionBody body;

        @Override
        public void run(int from, int to) {
            body.run(region, from, to);
        }
    }

    private static final ThreadLocal<RegionTask> REGION_TASK = ThreadLocal.withInitial(RegionTask::new);

    /** Task t of a {@link #run} region: units [units * t / tasks, units * (t + 1) / tasks). */
    private static final class Split implements java.util.function.IntConsumer {
        private RangeBody body;
        private int tasks;
        private int units;

        @Override
        public void accept(int t) {
            body.run((int) ((long) units * t / tasks), (int) ((long) units * (t + 1) / tasks));
        }
    }

    /** The calling thread's region split (a thread runs one region at a time; regions do not nest). */
    private static final ThreadLocal<Split> SPLIT = ThreadLocal.withInitial(Split::new);

    @FunctionalInterface
    interface RangeBody {
        void run(int from, int to);
    }
}
