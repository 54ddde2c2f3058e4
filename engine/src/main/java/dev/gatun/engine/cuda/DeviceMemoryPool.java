package dev.gatun.engine.cuda;

import dev.gatun.bindings.cuda.CudaCheck;
import dev.gatun.bindings.cuda.CudaRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A caching device-memory allocator for one session: blocks come from {@code cudaMalloc} only when no free block
 * fits, and go back to the pool (never to CUDA) until {@link #close()}, so a steady-state run calls no cudaMalloc.
 * Sizes round up to 512 bytes below 1 MiB and to 1 MiB above; a request takes the smallest free block of at least
 * its rounded size and at most 1.5 times it. Safe with one stream: a block freed during a run is reused only by
 * work queued after the work that used it. Captured CUDA graphs keep the addresses they saw: blocks are never
 * released while the pool is open, so those addresses stay valid.
 */
final class DeviceMemoryPool implements AutoCloseable {
    /** One device allocation (address, rounded size). */
    record Block(long address, long size) {
        MemorySegment ptr() {
            return MemorySegment.ofAddress(address);
        }
    }

    private final TreeMap<Long, ArrayDeque<Block>> free = new TreeMap<>();
    private final List<Block> all = new ArrayList<>();
    private final Allocator allocator;
    private long reserved;
    private long inUse;
    private long peakInUse;
    private long mallocCalls;
    private long hits;

    /** Where blocks come from: cudaMalloc in the engine, a counting fake in tests. */
    interface Allocator {
        long malloc(long bytes);

        void free(long address);
    }

    static final Allocator CUDA = new Allocator() {
        @Override
        public long malloc(long bytes) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                CudaCheck.rt(CudaRuntime.cudaMalloc(p, bytes), "cudaMalloc(" + bytes + " bytes)");
                return p.get(ValueLayout.ADDRESS, 0).address();
            }
        }

        @Override
        public void free(long address) {
            CudaRuntime.cudaFree(MemorySegment.ofAddress(address));
        }
    };

    DeviceMemoryPool(Allocator allocator) {
        this.allocator = allocator;
    }

    static long round(long bytes) {
        long b = Math.max(bytes, 1);
        return b < (1 << 20) ? (b + 511) & ~511L : (b + (1 << 20) - 1) & ~((1L << 20) - 1);
    }

    /** A block of at least {@code bytes}. */
    Block allocate(long bytes) {
        long want = round(bytes);
        Map.Entry<Long, ArrayDeque<Block>> e = free.ceilingEntry(want);
        while (e != null && e.getKey() <= want + want / 2) {
            Block b = e.getValue().poll();
            if (e.getValue().isEmpty()) {
                free.remove(e.getKey());
            }
            if (b != null) {
                hits++;
                use(b.size());
                return b;
            }
            e = free.higherEntry(e.getKey());
        }
        long addr = allocator.malloc(want);
        mallocCalls++;
        Block b = new Block(addr, want);
        all.add(b);
        reserved += want;
        use(want);
        return b;
    }

    private void use(long size) {
        inUse += size;
        peakInUse = Math.max(peakInUse, inUse);
    }

    /** Returns a block for reuse. */
    void release(Block b) {
        inUse -= b.size();
        free.computeIfAbsent(b.size(), k -> new ArrayDeque<>()).push(b);
    }

    long reservedBytes() {
        return reserved;
    }

    long inUseBytes() {
        return inUse;
    }

    long peakInUseBytes() {
        return peakInUse;
    }

    /** cudaMalloc calls so far (flat in steady state). */
    long mallocCalls() {
        return mallocCalls;
    }

    /** Requests served from the free lists. */
    long hits() {
        return hits;
    }

    @Override
    public void close() {
        for (Block b : all) {
            allocator.free(b.address());
        }
        all.clear();
        free.clear();
        reserved = 0;
        inUse = 0;
    }
}
