package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.tensor.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BroadcastTest {
    private static final long[] SIZES = {1, 2, 3, 7, 17};

    /** A random output shape and an input shape that broadcasts to it (leading dims dropped, some dims 1). */
    static Shape[] randomPair(Random rnd, int inputs) {
        int rank = rnd.nextInt(5);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            out[i] = SIZES[rnd.nextInt(SIZES.length)];
        }
        Shape[] r = new Shape[inputs + 1];
        r[0] = Shape.of(out);
        for (int k = 1; k <= inputs; k++) {
            int drop = rnd.nextInt(rank + 1);
            long[] d = new long[rank - drop];
            for (int i = 0; i < d.length; i++) {
                d[i] = rnd.nextInt(3) == 0 ? 1 : out[drop + i];
            }
            r[k] = Shape.of(d);
        }
        return r;
    }

    /** Input flat index of output flat index {@code f} (the textbook definition). */
    static long refIndex(long f, Shape out, Shape in) {
        long[] od = out.dims();
        long[] idx = LayoutTestSupport.unflat(f, od);
        long r = 0;
        int off = out.rank() - in.rank();
        for (int k = 0; k < in.rank(); k++) {
            long d = in.dim(k);
            r = r * d + (d == 1 ? 0 : idx[off + k]);
        }
        return r;
    }

    @Test
    void shapeIsNumpyBroadcast() {
        assertEquals(Shape.of(2, 3, 4), Broadcast.shape(Shape.of(2, 1, 4), Shape.of(3, 1)));
        assertEquals(Shape.of(5), Broadcast.shape(Shape.scalar(), Shape.of(5)));
        assertEquals(Shape.scalar(), Broadcast.shape(Shape.scalar(), Shape.scalar()));
        assertEquals(Shape.of(0, 3), Broadcast.shape(Shape.of(0, 1), Shape.of(3)));
        assertEquals(Shape.of(2, 3), Broadcast.shape(Shape.of(2, 1), Shape.of(1, 3), Shape.of(3)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Broadcast.shape(Shape.of(2, 3), Shape.of(4)));
        assertTrue(e.getMessage().contains("[2,3]") && e.getMessage().contains("[4]"), e.getMessage());
    }

    @Test
    void unidirectionalAndLegacy() {
        assertTrue(Broadcast.broadcastsTo(Shape.of(4), Shape.of(3, 4)));
        assertFalse(Broadcast.broadcastsTo(Shape.of(3, 4), Shape.of(4)));
        assertFalse(Broadcast.broadcastsTo(Shape.of(3), Shape.of(3, 4)));
        assertEquals(Shape.of(1, 3, 1, 1), Broadcast.legacy(Shape.of(2, 3, 4, 5), Shape.of(3), 1, true));
        assertEquals(Shape.of(1, 1, 4, 5), Broadcast.legacy(Shape.of(2, 3, 4, 5), Shape.of(4, 5), 0, false));
        assertEquals(Shape.of(1, 1, 1, 1), Broadcast.legacy(Shape.of(2, 3, 4, 5), Shape.scalar(), 0, false));
        assertThrows(IllegalArgumentException.class, () -> Broadcast.legacy(Shape.of(2, 3), Shape.of(4), 1, true));
    }

    @Test
    void commonCasesCollapseToFewRows() {
        Broadcast same = Broadcast.plan(Shape.of(2, 3, 5), Shape.of(2, 3, 5), Shape.of(2, 3, 5));
        assertTrue(same.isFlat());
        assertEquals(30, same.inner());
        Broadcast scalar = Broadcast.plan(Shape.of(4, 9), Shape.of(4, 9), Shape.scalar());
        assertTrue(scalar.isFlat());
        assertEquals(0, scalar.innerStride(1));
        assertEquals(1, scalar.innerStride(0));
        Broadcast bias = Broadcast.plan(Shape.of(6, 4, 33), Shape.of(6, 4, 33), Shape.of(1, 33));
        assertEquals(24, bias.rows());
        assertEquals(33, bias.inner());
        assertEquals(1, bias.innerStride(1));
        Broadcast column = Broadcast.plan(Shape.of(5, 7), Shape.of(5, 7), Shape.of(5, 1));
        assertEquals(5, column.rows());
        assertEquals(0, column.innerStride(1));
    }

    @Test
    void rowsVisitEveryOutputElementWithTheRightInputIndex() {
        Random rnd = new Random(7);
        for (int iter = 0; iter < 300; iter++) {
            Shape[] s = randomPair(rnd, 3);
            Shape out = Broadcast.shape(s[1], s[2], s[3], s[0]);
            Broadcast p = Broadcast.plan(out, s[1], s[2], s[3]);
            List<long[]> seen = new ArrayList<>();
            long n = p.inner();
            p.forEachRow((o, in) -> {
                for (long i = 0; i < n; i++) {
                    seen.add(new long[] {o + i, in[0] + i * p.innerStride(0), in[1] + i * p.innerStride(1), in[2] + i * p.innerStride(2)});
                }
            });
            assertEquals(out.size(), seen.size(), "element count for " + out);
            for (int f = 0; f < seen.size(); f++) {
                long[] e = seen.get(f);
                assertEquals(f, e[0], "output order");
                for (int k = 0; k < 3; k++) {
                    assertEquals(refIndex(f, out, s[k + 1]), e[k + 1], "input " + k + " " + s[k + 1] + " -> " + out + " at " + f);
                }
            }
        }
    }

    @Test
    void emptyOutputVisitsNothing() {
        Broadcast p = Broadcast.plan(Shape.of(0, 3), Shape.of(0, 1), Shape.of(3));
        int[] calls = {0};
        p.forEachRow((o, in) -> calls[0]++);
        assertEquals(0, calls[0]);
        Broadcast one = Broadcast.plan(Shape.scalar(), Shape.scalar());
        List<Long> rows = new ArrayList<>();
        one.forEachRow((o, in) -> rows.add(o));
        assertArrayEquals(new Object[] {0L}, rows.toArray());
        assertEquals(1, one.inner());
    }
}
