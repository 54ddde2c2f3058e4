package dev.gatun.engine.graph;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.cpu.IntraOpPool;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;

/**
 * A session's activation memory: 64-byte aligned buffers from the session's arena, handed to kernels and
 * returned to a best-fit free list as soon as the last consumer of the value they hold has run. Buffers are
 * reused across nodes and across runs, so a steady-state run allocates no new native memory.
 *
 * <p>Values are reference counted per buffer: a view (same segment instance, or a slice inside a live buffer)
 * shares its buffer's count.
 *
 * <p>Replay: a run with the same input shapes as an earlier one makes the same sequence of requests, so the first
 * such run is recorded (the tensor handed out at each request) and later runs get the recorded tensors back without
 * touching the free list or the reference counts: the steady state allocates nothing here. A request that differs
 * from the recording (data-dependent shapes) ends the replay: the rest of that run gets fresh buffers (returned to
 * the free list afterwards) and that input signature is never replayed again.
 */
public final class Workspace implements KernelContext {
    private static final class Buf {
        final MemorySegment whole;
        int refs;

        Buf(MemorySegment whole) {
            this.whole = whole;
        }
    }

    /**
     * A request takes the smallest free buffer that holds it if that is at most this many times its size (plus a
     * page); else a new buffer. MobileNetV2 at batch 1 (tensors of 0.2-4.8 MB in the first layers): 2x reserved
     * 14.9 MB, 8x 10.6 MB, unbounded 9.8 MB, and 8x took 5-10% less CPU time a run (fewer distinct buffers, more of
     * them stay in cache between layers); ResNet-18 6.2 -> 4.8 MB at the same speed.
     */
    private static final long SLACK = 8;

    private final Arena arena;
    private final long maxTensorBytes;
    private final long maxReservedBytes;
    private final int threads;
    private final IntraOpPool pool;
    private final TreeMap<Long, ArrayDeque<MemorySegment>> free = new TreeMap<>();
    private final Map<MemorySegment, Buf> live = new IdentityHashMap<>();
    private final List<MemorySegment> fresh = new ArrayList<>();
    private long reservedBytes;

    private enum Mode { NORMAL, RECORD, REPLAY, DIVERGED }

    /** The tensors one run was handed, for its input shapes. */
    private static final class Recording {
        final DType[] types;
        final long[][] dims;
        Tensor[] tensors;
        boolean unstable;

        Recording(Tensor[] inputs) {
            types = new DType[inputs.length];
            dims = new long[inputs.length][];
            for (int i = 0; i < inputs.length; i++) {
                types[i] = inputs[i].dtype();
                dims[i] = inputs[i].shape().dims();
            }
        }

        boolean matches(Tensor[] inputs) {
            if (inputs.length != types.length) {
                return false;
            }
            for (int i = 0; i < inputs.length; i++) {
                Shape s = inputs[i].shape();
                if (inputs[i].dtype() != types[i] || s.rank() != dims[i].length) {
                    return false;
                }
                for (int d = 0; d < dims[i].length; d++) {
                    if (s.dim(d) != dims[i][d]) {
                        return false;
                    }
                }
            }
            return true;
        }
    }

    private static final int MAX_RECORDINGS = 4;
    private final ArrayList<Recording> recordings = new ArrayList<>();
    private Mode mode = Mode.NORMAL;
    private Recording current;
    private ArrayList<Tensor> recorded;
    private int cursor;
    private final ArrayList<MemorySegment> divergedBuffers = new ArrayList<>();

    public Workspace(Arena arena, long maxTensorBytes, int threads) {
        this(arena, maxTensorBytes, Long.MAX_VALUE, threads);
    }

    /** A workspace that refuses to reserve more than {@code maxReservedBytes} of native memory in all. */
    public Workspace(Arena arena, long maxTensorBytes, long maxReservedBytes, int threads) {
        this.arena = arena;
        this.maxTensorBytes = maxTensorBytes;
        this.maxReservedBytes = maxReservedBytes;
        this.threads = threads;
        this.pool = threads > 1 ? new IntraOpPool(threads, "session") : null;
    }

    /** Starts a run on these inputs: replays the recording for their shapes, or records this run. */
    public void beginRun(Tensor[] inputs) {
        if (pool != null) {
            pool.wake();
        }
        for (int i = 0; i < recordings.size(); i++) {
            Recording r = recordings.get(i);
            if (r.matches(inputs)) {
                if (r.unstable) {
                    mode = Mode.NORMAL;
                    return;
                }
                if (i > 0) {
                    recordings.remove(i);
                    recordings.addFirst(r);
                }
                current = r;
                mode = Mode.REPLAY;
                cursor = 0;
                return;
            }
        }
        current = new Recording(inputs);
        recorded = new ArrayList<>();
        mode = Mode.RECORD;
    }

    /** Ends a run; a successful recorded run becomes replayable. Then every buffer returns to the free list. */
    public void endRun(boolean success) {
        if (pool != null) {
            pool.rest();
        }
        if (mode == Mode.RECORD && success) {
            current.tensors = recorded.toArray(new Tensor[0]);
            recordings.addFirst(current);
            if (recordings.size() > MAX_RECORDINGS) {
                recordings.removeLast();
            }
        } else if (mode == Mode.REPLAY && cursor != current.tensors.length) {
            current.unstable = true;
        }
        recorded = null;
        current = null;
        mode = Mode.NORMAL;
        reset();
        for (int i = 0; i < divergedBuffers.size(); i++) {
            MemorySegment b = divergedBuffers.get(i);
            free.computeIfAbsent(b.byteSize(), k -> new ArrayDeque<>()).push(b);
        }
        divergedBuffers.clear();
    }

    @Override
    public Tensor allocate(DType dtype, Shape shape) {
        long bytes = ArenaContext.checkedBytes(dtype, shape, maxTensorBytes);
        if (dtype == DType.STRING) {
            return Tensor.allocate(arena, dtype, shape);
        }
        if (mode == Mode.REPLAY) {
            Tensor[] ts = current.tensors;
            if (cursor < ts.length && ts[cursor].dtype() == dtype && ts[cursor].shape().equals(shape)) {
                return ts[cursor++];
            }
            current.unstable = true;
            mode = Mode.DIVERGED;
        }
        if (mode == Mode.DIVERGED) {
            reserve(Math.max(64, (bytes + 63) & ~63L), dtype, shape);
            MemorySegment b = arena.allocate(Math.max(64, (bytes + 63) & ~63L), Tensor.ALIGNMENT);
            reservedBytes += b.byteSize();
            divergedBuffers.add(b);
            return Tensor.of(dtype, shape, b.asSlice(0, bytes));
        }
        long want = Math.max(64, (bytes + 63) & ~63L);
        MemorySegment whole = null;
        Map.Entry<Long, ArrayDeque<MemorySegment>> e = free.ceilingEntry(want);
        if (e != null && e.getKey() <= SLACK * want + 4096) {
            whole = e.getValue().poll();
            if (e.getValue().isEmpty()) {
                free.remove(e.getKey());
            }
        }
        if (whole == null) {
            reserve(want, dtype, shape);
            whole = arena.allocate(want, Tensor.ALIGNMENT);
            reservedBytes += want;
        }
        MemorySegment view = whole.asSlice(0, bytes);
        live.put(view, new Buf(whole));
        fresh.add(view);
        Tensor t = Tensor.of(dtype, shape, view);
        if (mode == Mode.RECORD) {
            recorded.add(t);
        }
        return t;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void parallelFor(int tasks, IntConsumer body) {
        if (pool == null) {
            KernelContext.super.parallelFor(tasks, body);
        } else {
            pool.parallelFor(tasks, body);
        }
    }

    /** The ids of the intra-op pool's worker threads (none with one thread), for per-thread accounting. */
    public long[] intraOpThreadIds() {
        return pool == null ? new long[0] : pool.workerThreadIds();
    }

    /** Stops the intra-op threads. */
    public void close() {
        if (pool != null) {
            pool.close();
        }
    }

    /** Adds {@code n} uses to the buffer holding {@code t}, if the workspace owns it. */
    void retain(Tensor t, int n) {
        if (mode == Mode.REPLAY || mode == Mode.DIVERGED) {
            return;
        }
        Buf b = find(t);
        if (b != null) {
            b.refs += n;
        }
    }

    /** Drops one use of the buffer holding {@code t}; at zero the buffer returns to the free list. */
    void release(Tensor t) {
        if (mode == Mode.REPLAY || mode == Mode.DIVERGED) {
            return;
        }
        Buf b = find(t);
        if (b != null && --b.refs <= 0) {
            recycle(t.data(), b);
        }
    }

    /** After a step: buffers allocated in it that no value holds (scratch, unused outputs) are recycled. */
    void endStep() {
        if (mode == Mode.REPLAY || mode == Mode.DIVERGED) {
            return;
        }
        for (MemorySegment s : fresh) {
            Buf b = live.get(s);
            if (b != null && b.refs <= 0) {
                recycle(s, b);
            }
        }
        fresh.clear();
    }

    /** After a run (or a failed one): every buffer returns to the free list. */
    public void reset() {
        if (live.isEmpty() && fresh.isEmpty()) {
            return; // a replayed run took nothing from the free list (and iterating would allocate an iterator)
        }
        for (Buf b : live.values()) {
            if (b.refs != Integer.MIN_VALUE) {
                free.computeIfAbsent(b.whole.byteSize(), k -> new ArrayDeque<>()).push(b.whole);
                b.refs = Integer.MIN_VALUE;
            }
        }
        live.clear();
        fresh.clear();
    }

    /** Refuses a new buffer of {@code bytes} that would take the reserved total past the session's limit. */
    private void reserve(long bytes, DType dtype, Shape shape) {
        if (bytes > maxReservedBytes - reservedBytes) {
            throw new EngineException(EngineException.Kind.LIMIT, "tensor " + dtype + shape + " needs " + bytes
                    + " more bytes, but the session holds " + reservedBytes + " of its limit of " + maxReservedBytes
                    + " bytes (SessionOptions.maxSessionBytes)");
        }
    }

    /** Bytes of native memory this workspace has reserved so far. */
    public long reservedBytes() {
        return reservedBytes;
    }

    private void recycle(MemorySegment key, Buf b) {
        live.values().removeIf(x -> x == b);
        free.computeIfAbsent(b.whole.byteSize(), k -> new ArrayDeque<>()).push(b.whole);
        b.refs = Integer.MIN_VALUE;
    }

    private Buf find(Tensor t) {
        if (t == null || t.dtype() == DType.STRING) {
            return null;
        }
        MemorySegment s = t.data();
        Buf b = live.get(s);
        if (b != null) {
            return b;
        }
        long a = s.address();
        for (Map.Entry<MemorySegment, Buf> e : live.entrySet()) {
            MemorySegment w = e.getValue().whole;
            if (a >= w.address() && a < w.address() + w.byteSize()) {
                live.put(s, e.getValue());
                return e.getValue();
            }
        }
        return null;
    }
}
