package dev.gatun.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Accounting of the native memory the engine holds: every arena the engine allocates from is a {@link Tracked}
 * arena that counts the bytes it hands out (and the bytes of the files it maps) under a {@link Kind}, process-wide,
 * until it is closed. Per object: {@link Model#nativeBytes()}, {@link Session#nativeBytes()},
 * {@link Result#nativeBytes()}; process-wide: {@link #totalBytes()} and {@link #bytes(Kind)}.
 *
 * <p>Kernel scratch that lives with a thread (GEMM packing buffers, per-thread vectors) comes from
 * {@link #allocateScratch}: an automatic arena whose bytes count under {@link Kind#SCRATCH} until the garbage
 * collector frees it. Memory a caller allocates in its own arenas (input tensors) is the caller's and not counted.
 */
public final class NativeMemory {
    /** What the memory holds. */
    public enum Kind {
        /** Model and external-data files mapped read-only (page cache, not heap). */
        MAPPED,
        /** A model's own allocations: decoded and folded constants, weights repacked for kernels. */
        MODEL,
        /** Session workspaces: activations and per-run kernel scratch (int8 packing included). */
        SESSION,
        /** Outputs of {@link Session#run(java.util.Map)} held by open {@link Result}s. */
        RESULT,
        /** Per-thread kernel scratch, freed by the garbage collector with its thread's buffers. */
        SCRATCH,
        /** Arenas of embedding code (the server's batch staging buffers). */
        OTHER
    }

    private static final Kind[] KINDS = Kind.values();
    private static final AtomicLong[] BYTES = new AtomicLong[KINDS.length];
    private static final Cleaner CLEANER = Cleaner.create(r -> Thread.ofPlatform().name("gatun-native-cleaner").daemon()
            .unstarted(r));

    static {
        for (int i = 0; i < BYTES.length; i++) {
            BYTES[i] = new AtomicLong();
        }
    }

    private NativeMemory() {}

    /** Bytes of native memory the engine holds now, every kind together. */
    public static long totalBytes() {
        long s = 0;
        for (AtomicLong b : BYTES) {
            s += b.get();
        }
        return s;
    }

    /** Bytes of native memory of one kind held now. */
    public static long bytes(Kind kind) {
        return BYTES[kind.ordinal()].get();
    }

    /** Bytes held now, per kind (every kind present). */
    public static Map<Kind, Long> snapshot() {
        Map<Kind, Long> m = new EnumMap<>(Kind.class);
        for (Kind k : KINDS) {
            m.put(k, bytes(k));
        }
        return m;
    }

    /** A new shared arena whose allocations count under {@code kind} until it closes. */
    public static Tracked newArena(Kind kind) {
        return new Tracked(Arena.ofShared(), kind);
    }

    /**
     * Records that {@code bytes} of a file were mapped into {@code arena}: counted under {@link Kind#MAPPED} (and in
     * the arena's own total) until the arena closes. Arenas that are not {@link Tracked} are the caller's: ignored.
     */
    public static void mapped(Arena arena, long bytes) {
        if (arena instanceof Tracked t) {
            t.addMapped(bytes);
        }
    }

    /**
     * Native scratch of {@code bytes} bytes, 64-byte aligned, from an automatic arena: freed by the garbage
     * collector once unreachable, counted under {@link Kind#SCRATCH} until then.
     */
    public static MemorySegment allocateScratch(long bytes) {
        Arena auto = Arena.ofAuto();
        MemorySegment s = auto.allocate(bytes, 64);
        AtomicLong counter = BYTES[Kind.SCRATCH.ordinal()];
        counter.addAndGet(bytes);
        // the memory is freed when its scope is unreachable; the same event uncounts it
        CLEANER.register(s.scope(), () -> counter.addAndGet(-bytes));
        return s;
    }

    /**
     * A shared arena that counts what it allocates (and what is mapped into it) under a {@link Kind}, process-wide,
     * and gives the count back when it closes. Segments of a closed arena throw {@link IllegalStateException} on
     * access, as every FFM segment does: nothing reads freed memory.
     */
    public static final class Tracked implements Arena {
        private final Arena delegate;
        private final Kind kind;
        private final AtomicLong allocated = new AtomicLong();
        private final AtomicLong mapped = new AtomicLong();
        private volatile boolean closed;

        private Tracked(Arena delegate, Kind kind) {
            this.delegate = delegate;
            this.kind = kind;
        }

        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            // counted first, so a close racing with this call never uncounts less than was handed out
            allocated.addAndGet(byteSize);
            BYTES[kind.ordinal()].addAndGet(byteSize);
            try {
                return delegate.allocate(byteSize, byteAlignment);
            } catch (RuntimeException | Error e) {
                allocated.addAndGet(-byteSize);
                BYTES[kind.ordinal()].addAndGet(-byteSize);
                throw e;
            }
        }

        void addMapped(long bytes) {
            if (closed) {
                return;
            }
            mapped.addAndGet(bytes);
            BYTES[Kind.MAPPED.ordinal()].addAndGet(bytes);
        }

        @Override
        public MemorySegment.Scope scope() {
            return delegate.scope();
        }

        /** Bytes allocated from this arena and not yet freed (0 once closed). */
        public long allocatedBytes() {
            return closed ? 0 : allocated.get();
        }

        /** Bytes of files mapped into this arena (0 once closed). */
        public long mappedBytes() {
            return closed ? 0 : mapped.get();
        }

        /** Allocated and mapped bytes together. */
        public long bytes() {
            return allocatedBytes() + mappedBytes();
        }

        public boolean isClosed() {
            return closed;
        }

        /** Frees (unmaps) everything and uncounts it; a second close does nothing. */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            delegate.close();
            closed = true;
            BYTES[kind.ordinal()].addAndGet(-allocated.get());
            BYTES[Kind.MAPPED.ordinal()].addAndGet(-mapped.get());
        }
    }
}
