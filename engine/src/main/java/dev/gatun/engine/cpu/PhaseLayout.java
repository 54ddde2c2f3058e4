package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * How a 2-D convolution or pooling window reads its input once the input is rewritten into "phase planes", so that
 * every kernel tap becomes a contiguous run of the rewritten buffer.
 *
 * <p>With strides (sh, sw), dilations (dh, dw) and begin pads (pt, pl), output (oy, ox) and tap (kh, kw) read the
 * zero-padded input at row {@code oy*sh + kh*dh} and column {@code ox*sw + kw*dw}. Writing
 * {@code kh*dh = uh*sh + a} and {@code kw*dw = uw*sw + b}, that is element (oy + uh, ox + uw) of phase plane (a, b),
 * where plane (a, b) holds {@code Xpad[a + sh*y, b + sw*x]} for y &lt; hq, x &lt; wq, {@code hq = oh + max uh},
 * {@code wq = ow + max uw}. Only the phases some tap uses are stored ("slots"). One channel of the buffer is
 * {@code slots * hq * wq} floats: slot s at {@code s*hq*wq}, row y at {@code y*wq}.
 *
 * <p>Numbering output positions "wide", {@code p = oy*wq + ox} with ox &lt; wq, tap t reads buffer element
 * {@code tapOff[t] + p} for every p: a GEMM whose B rows are shifted views of the buffer. Positions with
 * {@code ox >= ow} are garbage (computed, never stored); {@link #efficiency()} is the fraction that is not.
 * Stride 1 without padding and a 1x1 kernel has no garbage and no shift: the buffer is the input itself.
 */
public final class PhaseLayout {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Per thread: the last vector of a row of {@link #evens(MemorySegment, long, float[], int, int, float[])}. */
    private static final ThreadLocal<float[]> TAIL = ThreadLocal.withInitial(() -> new float[VL]);
    /** Lane indices 0, 2, 4, ...: the even elements of two concatenated vectors. */
    private static final FloatVector EVEN = FloatVector.fromArray(S, evenIndices(), 0);

    private static float[] evenIndices() {
        float[] f = new float[VL];
        for (int i = 0; i < VL; i++) {
            f[i] = 2 * i;
        }
        return f;
    }

    /**
     * {@code dst[d + i] = src[from + 2i]} for i &lt; n, two input vectors per output vector (a scalar tail where
     * the vectors would read past {@code src}).
     */
    public static void evens(float[] src, int from, float[] dst, int d, int n) {
        int i = 0;
        int last = Math.min(n - VL, (src.length - from) / 2 - VL);
        for (; i <= last; i += VL) {
            FloatVector a = FloatVector.fromArray(S, src, from + 2 * i);
            FloatVector b = FloatVector.fromArray(S, src, from + 2 * i + VL);
            EVEN.selectFrom(a, b).intoArray(dst, d + i);
        }
        for (; i < n; i++) {
            dst[d + i] = src[from + 2 * i];
        }
    }

    /**
     * {@code dst[d + i] = x[from + 2i]} for i &lt; n, reading the floats of {@code x} (native or heap) straight: two
     * input vectors per output vector. The row's last vector reads on past it (the odd columns and the next row,
     * never stored) and goes through {@code tail} (VL floats of scratch: a masked store took a slow path that
     * allocates); where that read would leave {@code x}, the last outputs are copied one by one.
     */
    static void evens(MemorySegment x, long from, float[] dst, int d, int n, float[] tail) {
        long at = from * 4;
        long room = (x.byteSize() - at) / 8;
        int i = 0;
        for (; i + VL <= n && i + VL <= room; i += VL) {
            FloatVector a = FloatVector.fromMemorySegment(S, x, at + 8L * i, LE);
            FloatVector b = FloatVector.fromMemorySegment(S, x, at + 8L * i + 4L * VL, LE);
            EVEN.selectFrom(a, b).intoArray(dst, d + i);
        }
        if (i < n && i + VL <= room) {
            FloatVector a = FloatVector.fromMemorySegment(S, x, at + 8L * i, LE);
            FloatVector b = FloatVector.fromMemorySegment(S, x, at + 8L * i + 4L * VL, LE);
            EVEN.selectFrom(a, b).intoArray(tail, 0);
            System.arraycopy(tail, 0, dst, d + i, n - i);
            return;
        }
        for (; i < n; i++) {
            dst[d + i] = x.getAtIndex(Tensor.F32, from + 2L * i);
        }
    }

    final int ih;
    final int iw;
    final int oh;
    final int ow;
    final int sh;
    final int sw;
    final int pt;
    final int pl;
    final int kh0;
    final int kw0;
    final int dh;
    final int dw;
    final int hq;
    final int wq;
    /** Phase (a, b) of each stored slot. */
    final int[] slotA;
    final int[] slotB;
    /** Buffer offset of each tap (kh*kw0 + kw) relative to its channel. */
    final int[] tapOff;
    /** Floats per channel: slots * hq * wq. */
    final int chanStride;
    /** Tables kernels derive from this layout (offsets, store runs, loops), built once per layout: {@link #table}. */
    private volatile Table[] tables = new Table[0];

    /** A table named by a tag and five ints, and what it holds. */
    private record Table(String tag, int a, int b, int c, int d, int e, Object value) {}

    /** Builds a table of a layout from the ints that name it (a non-capturing lambda, so that passing it allocates nothing). */
    @FunctionalInterface
    interface Builder<T> {
        T build(PhaseLayout lay, int a, int b, int c, int d, int e);
    }

    /** The layout of a 2-D window geometry: input ih x iw, output oh x ow, kernel kh0 x kw0. */
    public PhaseLayout(int ih, int iw, int oh, int ow, int kh0, int kw0, int sh, int sw, int dh, int dw, int pt, int pl) {
        this.ih = ih;
        this.iw = iw;
        this.oh = oh;
        this.ow = ow;
        this.sh = sh;
        this.sw = sw;
        this.pt = pt;
        this.pl = pl;
        this.kh0 = kh0;
        this.kw0 = kw0;
        this.dh = dh;
        this.dw = dw;
        this.hq = oh + (kh0 - 1) * dh / sh;
        this.wq = ow + (kw0 - 1) * dw / sw;
        int[] slotOf = new int[sh * sw];
        Arrays.fill(slotOf, -1);
        int slots = 0;
        int[] a = new int[sh * sw];
        int[] b = new int[sh * sw];
        for (int kh = 0; kh < kh0; kh++) {
            for (int kw = 0; kw < kw0; kw++) {
                int ph = kh * dh % sh * sw + kw * dw % sw;
                if (slotOf[ph] < 0) {
                    slotOf[ph] = slots;
                    a[slots] = kh * dh % sh;
                    b[slots] = kw * dw % sw;
                    slots++;
                }
            }
        }
        this.slotA = Arrays.copyOf(a, slots);
        this.slotB = Arrays.copyOf(b, slots);
        this.tapOff = new int[kh0 * kw0];
        long plane = (long) hq * wq;
        for (int kh = 0; kh < kh0; kh++) {
            for (int kw = 0; kw < kw0; kw++) {
                int slot = slotOf[kh * dh % sh * sw + kw * dw % sw];
                tapOff[kh * kw0 + kw] = Math.toIntExact(slot * plane + (long) (kh * dh / sh) * wq + kw * dw / sw);
            }
        }
        this.chanStride = Math.toIntExact(slots * plane);
    }

    /**
     * The calling thread's array in {@code slot}, grown to at least {@code floats}: scratch reused across runs
     * (kernels read heap arrays faster than native segments).
     */
    static float[] scratch(ThreadLocal<float[]> slot, int floats) {
        float[] b = slot.get();
        if (b.length < floats) {
            b = new float[floats];
            slot.set(b);
        }
        return b;
    }

    /** Wide output positions per image: oh * wq. */
    public int wide() {
        return oh * wq;
    }

    /**
     * The table named {@code tag} and {@code a..e} (unused ones 0), built by {@code build} on first use and kept with
     * the layout. A lookup allocates nothing (no key object, no boxing, and no lambda when {@code build} captures
     * nothing), so kernels look their tables up on every run.
     */
    @SuppressWarnings("unchecked")
    <T> T table(String tag, int a, int b, int c, int d, int e, Builder<T> build) {
        for (Table t : tables) {
            if (t.tag.equals(tag) && t.a == a && t.b == b && t.c == c && t.d == d && t.e == e) {
                return (T) t.value;
            }
        }
        synchronized (this) {
            Table[] old = tables;
            for (Table t : old) {
                if (t.tag.equals(tag) && t.a == a && t.b == b && t.c == c && t.d == d && t.e == e) {
                    return (T) t.value;
                }
            }
            T value = build.build(this, a, b, c, d, e);
            Table[] grown = Arrays.copyOf(old, old.length + 1);
            grown[old.length] = new Table(tag, a, b, c, d, e, value);
            tables = grown;
            return value;
        }
    }

    /** Floats of buffer per channel (slots * hq * wq). */
    public int channelFloats() {
        return chanStride;
    }

    /** Fraction of the wide positions that are real outputs. */
    public double efficiency() {
        return (double) ow / wq;
    }

    /** True when the buffer is a plain copy of the input (one slot, no shift, no padding, no stride). */
    boolean identity() {
        return sh == 1 && sw == 1 && pt == 0 && pl == 0 && hq == ih && wq == iw && chanStride == ih * iw;
    }

    /**
     * Writes the phase planes of one input plane (ih x iw floats at float index {@code src} of {@code x}) to
     * {@code buf[dst ..]}, {@code fill} outside the input (0 for convolutions, -inf for max pooling). Only the input rows
     * a slot uses are read, straight from {@code x} (a stride-2 layout reads half of them: ResNet's 1x1/2 downsamples
     * no longer copy the whole plane to the heap first).
     */
    public void fillPlane(MemorySegment x, long src, float[] buf, int dst, float fill) {
        if (identity()) {
            MemorySegment.copy(x, Tensor.F32, src * 4, buf, dst, ih * iw);
            return;
        }
        int planeSize = hq * wq;
        float[] tail = sw == 2 ? TAIL.get() : null;
        for (int s = 0; s < slotA.length; s++) {
            int a = slotA[s];
            int b = slotB[s];
            int xlo = Math.clamp(Math.ceilDiv(pl - b, sw), 0, wq);
            int xhi = Math.clamp(Math.floorDiv(iw - 1 - b + pl, sw) + 1, xlo, wq);
            int q0 = xlo * sw + b - pl;
            int n = xhi - xlo;
            for (int y = 0; y < hq; y++) {
                int d = dst + s * planeSize + y * wq;
                int r = y * sh + a - pt;
                if (r < 0 || r >= ih || n <= 0) {
                    Arrays.fill(buf, d, d + wq, fill);
                    continue;
                }
                for (int i = 0; i < xlo; i++) {
                    buf[d + i] = fill;
                }
                long from = src + (long) r * iw + q0;
                if (sw == 1) {
                    MemorySegment.copy(x, Tensor.F32, from * 4, buf, d + xlo, n);
                } else if (sw == 2) {
                    evens(x, from, buf, d + xlo, n, tail);
                } else {
                    for (int i = 0; i < n; i++) {
                        buf[d + xlo + i] = x.getAtIndex(Tensor.F32, from + (long) i * sw);
                    }
                }
                for (int i = xhi; i < wq; i++) {
                    buf[d + i] = fill;
                }
            }
        }
    }
}
