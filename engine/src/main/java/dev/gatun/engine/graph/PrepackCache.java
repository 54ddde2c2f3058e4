package dev.gatun.engine.graph;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Weights repacked for a kernel (GEMM panels, folded BatchNorm, INT8/sparse formats), built once per model
 * and shared by all its sessions. Entries live in the model's arena and die with the model.
 */
public final class PrepackCache {
    private record Key(String kind, long address, long bytes, String detail) {}

    private final Arena arena;
    private final ConcurrentHashMap<Key, Object> entries = new ConcurrentHashMap<>();

    /** @param arena the model's arena, which owns every packed buffer */
    public PrepackCache(Arena arena) {
        this.arena = arena;
    }

    /** A cache whose entries are garbage-collected (tests, constant folding). */
    public static PrepackCache unshared() {
        return new PrepackCache(Arena.ofAuto());
    }

    /**
     * The packed form of {@code weight} for {@code kind} (+ {@code detail}, e.g. transposition or tile sizes),
     * building it with {@code build} (given the arena to allocate from) on first use.
     */
    @SuppressWarnings("unchecked")
    public <T> T get(String kind, Tensor weight, String detail, Function<Arena, T> build) {
        Key k = new Key(kind, weight.data().address(), weight.byteSize(), detail);
        return (T) entries.computeIfAbsent(k, x -> build.apply(arena));
    }
}
