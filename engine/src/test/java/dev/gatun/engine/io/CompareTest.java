package dev.gatun.engine.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CompareTest {
    private final Arena arena = Arena.ofConfined();
    private static final Compare.Tolerance TOL = Compare.Tolerance.FP32;

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor f(float... v) {
        return Tensor.ofFloats(arena, v, v.length);
    }

    @Test
    void absoluteTermScalesWithTheOutputsLargestMagnitude() {
        // max|e| = 30: atol * scale = 3e-3, so a 2e-3 error on a 0.001 element passes...
        Compare.Report ok = Compare.compare("y", f(30, 0.003f, -5), f(30, 0.001f, -5), TOL);
        assertTrue(ok.pass(), ok.line());
        assertEquals(0.002, ok.maxAbs(), 1e-6);
        // ...and a 4e-3 error does not.
        Compare.Report bad = Compare.compare("y", f(30, 0.005f, -5), f(30, 0.001f, -5), TOL);
        assertFalse(bad.pass());
        assertEquals(1, bad.bad());
        assertTrue(bad.line().contains("FAIL") && bad.line().contains("first at [1]"), bad.line());
        // Relative term: 1e-3 of a large element.
        assertTrue(Compare.compare("y", f(1000.9f, 1), f(1000, 1), TOL).pass());
        assertFalse(Compare.compare("y", f(1001.2f, 1), f(1000, 1), TOL).pass());
    }

    @Test
    void usedShareAndRelativeErrorIgnoreNearZeroElements() {
        Compare.Report r = Compare.compare("y", f(10, 1e-6f), f(10, 0), TOL);
        assertTrue(r.pass());
        assertEquals(0, r.maxRel(), "an element with |e| < 1e-3 * max|e| does not count for max rel");
        assertEquals(1e-6 / (1e-4 * 10), r.used(), 1e-6);
        Compare.Report rel = Compare.compare("y", f(10.005f, 2), f(10, 2), TOL);
        assertEquals(5e-4, rel.maxRel(), 1e-6);
    }

    @Test
    void nanAndInfinityMustMatchExactly() {
        float nan = Float.NaN;
        float inf = Float.POSITIVE_INFINITY;
        assertTrue(Compare.compare("y", f(nan, inf, 1), f(nan, inf, 1), TOL).pass());
        assertFalse(Compare.compare("y", f(1, inf, 1), f(nan, inf, 1), TOL).pass());
        assertFalse(Compare.compare("y", f(nan, 1), f(1, 1), TOL).pass());
        assertFalse(Compare.compare("y", f(-inf, 1), f(inf, 1), TOL).pass());
    }

    @Test
    void dtypeShapeAndIntegersAreExact() {
        Compare.Report shape = Compare.compare("y", Tensor.ofFloats(arena, new float[] {1, 2}, 1, 2), f(1, 2), TOL);
        assertFalse(shape.pass());
        assertTrue(shape.line().contains("shape [1,2], expected [2]"), shape.line());
        Tensor l = Tensor.ofLongs(arena, new long[] {1, 2, 3}, 3);
        Compare.Report dtype = Compare.compare("y", l, f(1, 2, 3), TOL);
        assertFalse(dtype.pass());
        assertTrue(dtype.line().contains("dtype int64, expected float"), dtype.line());
        assertTrue(Compare.compare("y", l, Tensor.ofLongs(arena, new long[] {1, 2, 3}, 3), TOL).pass());
        Compare.Report ints = Compare.compare("y", l, Tensor.ofLongs(arena, new long[] {1, 2, 4}, 3), TOL);
        assertFalse(ints.pass());
        assertEquals(1, ints.maxAbs());
        assertTrue(ints.line().contains("got 3, expected 4"), ints.line());
    }

    @Test
    void halfPrecisionGetsLooserDefaultsAndEmptyOutputsPass() {
        Tensor a = Tensor.allocate(arena, DType.FLOAT16, Shape.of(2));
        Tensor e = Tensor.allocate(arena, DType.FLOAT16, Shape.of(2));
        a.setDouble(0, 1.005);
        e.setDouble(0, 1.0);
        assertFalse(Compare.compare("h", a, e, TOL).pass());
        assertTrue(Compare.compare("h", a, e, Compare.Tolerance.defaultFor(DType.FLOAT16)).pass());
        assertEquals(TOL, Compare.Tolerance.defaultFor(DType.FLOAT));
        Tensor empty = Tensor.allocate(arena, DType.FLOAT, Shape.of(0, 4));
        assertTrue(Compare.compare("z", empty, empty, TOL).pass());
        assertThrows(IllegalArgumentException.class, () -> new Compare.Tolerance(-1, 0));
    }

    @Test
    void reportsMultiDimensionalIndexOfFirstFailure() {
        assertEquals("[1, 0, 2]", Compare.index(Shape.of(2, 3, 4), 14));
        assertEquals("[]", Compare.index(Shape.scalar(), 0));
        Tensor e = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor a = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 9, 6}, 2, 3);
        Compare.Report r = Compare.compare("out", a, e, TOL);
        assertTrue(r.line().startsWith("out  float[2,3]"), r.line());
        assertTrue(r.line().contains("first at [1, 1]: got 9, expected 5"), r.line());
    }
}
