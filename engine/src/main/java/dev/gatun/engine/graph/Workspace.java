package dev.gatun.engine.graph;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.NativeMemory;
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
import java.util.Arrays;
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
 *
 * <p>Planned replay (a session's workspace, {@link #forSession}): the recorded run also notes when each buffer was
 * taken and given back, and at its end {@link OffsetPlanner} places all of them in one block of their own, buffers
 * live at the same time at disjoint offsets; replays hand out views of that block. The free list's buffers live in
 * an arena of their own, closed once every recording is planned (a new input signature records with a new one).
 * MobileNetV2 at batch 1 replays in 6.0 MB instead of the free list's 10.6.
 */
public final class Workspace implements KernelContext {
    private static final class Buf {
        final MemorySegment whole;
        int refs;
        /** The recorded request this buffer was taken for, or -1 (not recording). */
        int request = -1;

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
        /** The planned block the tensors are views of (closed when the recording is dropped), or null: free-list buffers. */
        Arena block;
        long blockBytes;

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
    /** Whether recordings are planned into blocks of their own (a session's workspace). */
    private final boolean planned;
    /** With {@link #planned}: the free list's buffers, an arena closed once no recording refers to it (else null). */
    private Arena poolArena;
    private long poolBytes;
    /** Bytes in the pool arena and the planned blocks (read by other threads: {@link #ownArenaBytes}). */
    private volatile long ownBytes;
    /** During a recording: each request's bytes and the events (takes and gives back) that bound its life. */
    private long clock;
    private long[] reqBytes = new long[0], reqStart = new long[0], reqEnd = new long[0];

    public Workspace(Arena arena, long maxTensorBytes, int threads) {
        this(arena, maxTensorBytes, Long.MAX_VALUE, threads);
    }

    /** A workspace that refuses to reserve more than {@code maxReservedBytes} of native memory in all. */
    public Workspace(Arena arena, long maxTensorBytes, long maxReservedBytes, int threads) {
        this(arena, maxTensorBytes, maxReservedBytes, threads, false);
    }

    private Workspace(Arena arena, long maxTensorBytes, long maxReservedBytes, int threads, boolean planned) {
        this.arena = arena;
        this.maxTensorBytes = maxTensorBytes;
        this.maxReservedBytes = maxReservedBytes;
        this.threads = threads;
        this.planned = planned;
        this.pool = threads > 1 ? new IntraOpPool(threads, "session") : null;
    }

    /**
     * A session's workspace: as {@link #Workspace(Arena, long, long, int)}, and recorded runs are replayed from a
     * planned block (see the class comment; {@code -Dgatun.workspace.plan=off} replays the free list's buffers
     * instead, for A/B measurements). {@link #close} must be called (it frees the blocks and the free list).
     */
    public static Workspace forSession(Arena arena, long maxTensorBytes, long maxReservedBytes, int threads) {
        boolean plan = !"off".equals(System.getProperty("gatun.workspace.plan"));
        return new Workspace(arena, maxTensorBytes, maxReservedBytes, threads, plan);
    }

    /**
     * A new free-list buffer of {@code bytes} (checked against the limit by the caller), counted as reserved: from the
     * pool arena (planned workspaces), else from the given arena.
     */
    private MemorySegment newBuffer(long bytes) {
        MemorySegment b;
        if (planned) {
            if (poolArena == null) {
                poolArena = NativeMemory.newArena(NativeMemory.Kind.SESSION);
            }
            b = poolArena.allocate(bytes, Tensor.ALIGNMENT);
            poolBytes += bytes;
            ownBytes += bytes;
        } else {
            b = arena.allocate(bytes, Tensor.ALIGNMENT);
        }
        reservedBytes += bytes;
        return b;
    }

    /** Frees the free list's buffers and their arena (a planned workspace). */
    private void closePool() {
        free.clear();
        if (poolArena != null) {
            poolArena.close();
            poolArena = null;
        }
        reservedBytes -= poolBytes;
        ownBytes -= poolBytes;
        poolBytes = 0;
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
        clock = 0;
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
                dropBlock(recordings.removeLast());
            }
        } else if (mode == Mode.REPLAY && cursor != current.tensors.length) {
            current.unstable = true;
        }
        boolean plan = planned && mode == Mode.RECORD && success;
        Recording done = current;
        int requests = recorded == null ? 0 : recorded.size();
        recorded = null;
        current = null;
        mode = Mode.NORMAL;
        reset();
        for (int i = 0; i < divergedBuffers.size(); i++) {
            MemorySegment b = divergedBuffers.get(i);
            free.computeIfAbsent(b.byteSize(), k -> new ArrayDeque<>()).push(b);
        }
        divergedBuffers.clear();
        if (plan && requests > 0) {
            plan(done, requests);
        }
    }

    /**
     * Places the recorded run's buffers in one block ({@link OffsetPlanner}) and makes the recording's tensors views
     * of it, unless the block would not be smaller than the free list; then, if no recording refers to the free
     * list's buffers any more, closes their arena.
     */
    private void plan(Recording r, int n) {
        for (int i = 0; i < n; i++) {
            if (reqEnd[i] < 0) {
                reqEnd[i] = clock; // still live at the end of the run
            }
        }
        long[] off = OffsetPlanner.plan(Arrays.copyOf(reqBytes, n), Arrays.copyOf(reqStart, n), Arrays.copyOf(reqEnd, n));
        long total = Math.max(64, off[n]);
        if (total > poolBytes || total > maxReservedBytes - reservedBytes + poolBytes) {
            return;
        }
        boolean poolFree = true;
        for (Recording o : recordings) {
            poolFree &= o == r || o.block != null || o.unstable; // an unstable recording is never replayed
        }
        if (!poolFree && total > maxReservedBytes - reservedBytes) {
            return;
        }
        Arena block = NativeMemory.newArena(NativeMemory.Kind.SESSION);
        MemorySegment seg = block.allocate(total, Tensor.ALIGNMENT);
        Tensor[] ts = new Tensor[n];
        for (int i = 0; i < n; i++) {
            Tensor t = r.tensors[i];
            ts[i] = Tensor.of(t.dtype(), t.shape(), seg.asSlice(off[i], t.data().byteSize()));
        }
        r.tensors = ts;
        r.block = block;
        r.blockBytes = total;
        reservedBytes += total;
        ownBytes += total;
        if (poolFree) {
            closePool();
        }
    }

    /** Frees a dropped recording's planned block. */
    private void dropBlock(Recording r) {
        if (r.block != null) {
            r.block.close();
            reservedBytes -= r.blockBytes;
            ownBytes -= r.blockBytes;
            r.block = null;
        }
    }

    /** Notes request {@code recorded.size()} of {@code bytes}, taken now. */
    private void noteRequest(long bytes) {
        int i = recorded.size();
        if (i == reqBytes.length) {
            int grown = Math.max(64, 2 * i);
            reqBytes = Arrays.copyOf(reqBytes, grown);
            reqStart = Arrays.copyOf(reqStart, grown);
            reqEnd = Arrays.copyOf(reqEnd, grown);
        }
        reqBytes[i] = bytes;
        reqStart[i] = clock++;
        reqEnd[i] = -1;
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
            MemorySegment b = newBuffer(Math.max(64, (bytes + 63) & ~63L));
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
            whole = newBuffer(want);
        }
        MemorySegment view = whole.asSlice(0, bytes);
        Buf buf = new Buf(whole);
        live.put(view, buf);
        fresh.add(view);
        Tensor t = Tensor.of(dtype, shape, view);
        if (mode == Mode.RECORD) {
            buf.request = recorded.size();
            noteRequest(want);
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

    /** Stops the intra-op threads; a session's workspace also frees its planned blocks and free list. */
    public void close() {
        if (pool != null) {
            pool.close();
        }
        if (planned) {
            for (Recording r : recordings) {
                dropBlock(r);
            }
            recordings.clear();
            live.clear();
            closePool();
        }
    }

    /**
     * Native bytes in the workspace's own arenas (a session's workspace: the free list's and the planned blocks),
     * which the session's arena does not count.
     */
    public long ownArenaBytes() {
        return ownBytes;
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
        if (mode == Mode.RECORD && b.request >= 0 && reqEnd[b.request] < 0) {
            reqEnd[b.request] = clock++;
        }
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
