package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.Tensor;

/**
 * A one-entry cache for what a kernel derives on every run from its inputs' shapes or buffers (an output shape, a
 * GEMM epilogue, the array of outputs it returns), keyed by the identity of up to four objects.
 *
 * <p>Why identity works: in a replayed run ({@link dev.gatun.engine.graph.Workspace}) the workspace hands out the
 * same tensor instances as in the recorded run, so a kernel sees the same {@code Tensor}, {@code Shape} and segment
 * objects run after run, and the steady state hits the cache and allocates nothing. Any other run misses and pays
 * one small allocation, as before. A hit is only taken for identical key objects, so a stale entry is never wrong.
 *
 * <p>Thread-safe without locks: entries are immutable and published through a volatile field; concurrent sessions
 * sharing a planned kernel at most replace each other's entry.
 */
public final class Memo<V> {
    private record Entry<V>(Object a, Object b, Object c, Object d, V value) {}

    private volatile Entry<V> last;

    /** The value stored for exactly these keys (compared by identity), or null. */
    public V get(Object a, Object b, Object c, Object d) {
        Entry<V> e = last;
        return e != null && e.a == a && e.b == b && e.c == c && e.d == d ? e.value : null;
    }

    /** The value stored for exactly these keys (compared by identity), or null. */
    public V get(Object a, Object b, Object c) {
        return get(a, b, c, null);
    }

    /** The value stored for {@code a} alone, or null. */
    public V get(Object a) {
        return get(a, null, null);
    }

    /** Stores {@code value} for these keys (replacing the previous entry) and returns it. */
    public V put(Object a, Object b, Object c, Object d, V value) {
        last = new Entry<>(a, b, c, d, value);
        return value;
    }

    /** Stores {@code value} for these keys (replacing the previous entry) and returns it. */
    public V put(Object a, Object b, Object c, V value) {
        return put(a, b, c, null, value);
    }

    /** Stores {@code value} for {@code a} alone and returns it. */
    public V put(Object a, V value) {
        return put(a, null, null, value);
    }

    /**
     * The one-element array {@code {t}} a kernel returns: the same array while {@code t} is the same tensor. The
     * executor only reads returned arrays, so sharing one is safe.
     */
    public static Tensor[] outputs(Memo<Tensor[]> memo, Tensor t) {
        Tensor[] out = memo.get(t);
        return out != null ? out : memo.put(t, new Tensor[] {t});
    }
}
