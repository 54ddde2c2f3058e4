package dev.gatun.engine.cpu;

import org.junit.jupiter.api.Test;

/**
 * {@link NchwcConv}'s warm calls allocate no heap ({@link NchwcConvTest#checkWarmCallsAllocateNoHeap}: a blocked 1x1
 * with residual and clamp, the NCHW-input 3x3 stride-2 stem shape, a 7x7 3x3), in the allocation tests' JVM of its
 * own (engine/pom.xml), as SteadyStateAllocationTest: in the shared test JVM, after some 60 other test classes, the
 * NCHW-input case once kept allocating 960 bytes a call for the whole 60 s the check waits (one CI run in four).
 */
class NchwcConvAllocationTest {
    @Test
    void warmCallsAllocateNoHeap() {
        NchwcConvTest t = new NchwcConvTest();
        try {
            t.checkWarmCallsAllocateNoHeap();
        } finally {
            t.close();
        }
    }
}
