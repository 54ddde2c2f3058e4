package dev.gatun.engine.api;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Native memory accounting ({@link NativeMemory}) per model, session and result and process-wide, given back on
 * close; and closed objects (and tensor views taken before the close) throwing instead of reading freed memory.
 */
class NativeMemoryTest {
    static final int K = 48;
    static final int N = 40;

    @TempDir
    Path dir;

    /** y = Relu(x @ W + b), x: float[batch, K], W: [K, N] and b: [N] stored as raw data (mapped, not copied). */
    static Path mlp(Path dir, long seed) throws IOException {
        Random rnd = new Random(seed);
        ByteBuffer w = ByteBuffer.allocate(4 * K * N).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < K * N; i++) {
            w.putFloat((float) rnd.nextGaussian());
        }
        ByteBuffer b = ByteBuffer.allocate(4 * N).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < N; i++) {
            b.putFloat((float) rnd.nextGaussian());
        }
        Onnx.TensorShapeProto.Builder xs = Onnx.TensorShapeProto.newBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(K));
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("mlp")
                .addInput(Onnx.ValueInfoProto.newBuilder().setName("x").setType(Onnx.TypeProto.newBuilder()
                        .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(xs))))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("y"))
                .addInitializer(Onnx.TensorProto.newBuilder().setName("W").setDataType(1).addDims(K).addDims(N)
                        .setRawData(com.google.protobuf.ByteString.copyFrom(w.array())))
                .addInitializer(Onnx.TensorProto.newBuilder().setName("b").setDataType(1).addDims(N)
                        .setRawData(com.google.protobuf.ByteString.copyFrom(b.array())))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("MatMul").addInput("x").addInput("W").addOutput("h"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Add").addInput("h").addInput("b").addOutput("a"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Relu").addInput("a").addOutput("y"));
        byte[] bytes = Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build()
                .toByteArray();
        Path f = dir.resolve("mlp" + seed + ".onnx");
        Files.write(f, bytes);
        return f;
    }

    static Tensor input(Arena a, int rows, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[rows * K];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return Tensor.ofFloats(a, x, rows, K);
    }

    /** Engine-held bytes that closing objects gives back (per-thread scratch goes with the GC, so it is left out). */
    static long held() {
        return NativeMemory.totalBytes() - NativeMemory.bytes(NativeMemory.Kind.SCRATCH);
    }

    static long delta(Map<NativeMemory.Kind, Long> base, NativeMemory.Kind k) {
        return NativeMemory.bytes(k) - base.get(k);
    }

    @Test
    void everyArenaIsCountedPerObjectAndGivenBackOnClose() throws IOException {
        Path f = mlp(dir, 1);
        Map<NativeMemory.Kind, Long> base = NativeMemory.snapshot();
        long before = held();
        try (Arena a = Arena.ofConfined()) {
            Model m = Model.load(f);
            assertEquals(Files.size(f), m.mappedBytes(), "the model file is mapped, and counted as mapped");
            assertEquals(Files.size(f), delta(base, NativeMemory.Kind.MAPPED));
            Session s = m.newSession(SessionOptions.defaults().withThreads(2));
            Result r = s.run(Map.of("x", input(a, 9, 2)));
            assertEquals(9L * N * 4, r.nativeBytes(), "a result holds exactly its outputs");
            assertEquals(r.nativeBytes(), delta(base, NativeMemory.Kind.RESULT));
            assertTrue(s.nativeBytes() >= 9L * N * 4, "the workspace holds at least the output: " + s.nativeBytes());
            assertEquals(s.workspaceBytes(), s.nativeBytes(), "every workspace buffer comes from the session's arena");
            assertEquals(s.nativeBytes(), delta(base, NativeMemory.Kind.SESSION));
            assertEquals(m.nativeBytes() - m.mappedBytes(), delta(base, NativeMemory.Kind.MODEL),
                    "the model's own allocations (folded constants, packed weights)");
            assertEquals(m.nativeBytes() + s.nativeBytes() + r.nativeBytes(), held() - before);

            r.close();
            assertEquals(0, r.nativeBytes());
            assertEquals(0, delta(base, NativeMemory.Kind.RESULT));
            s.close();
            assertEquals(0, s.nativeBytes());
            assertEquals(0, delta(base, NativeMemory.Kind.SESSION));
            m.close();
            assertEquals(0, m.nativeBytes());
            assertEquals(before, held(), "everything given back: " + NativeMemory.snapshot() + " vs " + base);
        }
    }

    @Test
    void closedModelSessionAndResultThrowAndViewsTakenBeforeTheCloseDoNotReadFreedMemory() throws IOException {
        Path f = mlp(dir, 3);
        try (Arena a = Arena.ofConfined()) {
            Tensor x = input(a, 2, 4);
            Model m = Model.load(f);
            Session s = m.newSession();
            Session s2 = m.newSession();
            Result r = s.run(Map.of("x", x));
            Tensor y = r.get("y");
            float y0 = y.getFloat(0);

            // a session's close leaves its results valid: they own their memory
            s.close();
            assertEquals(y0, y.getFloat(0));
            EngineException e = assertThrows(EngineException.class, () -> s.run(Map.of("x", x)));
            assertEquals(EngineException.Kind.CLOSED, e.kind());
            assertTrue(e.getMessage().contains("session is closed"), e.getMessage());

            // a result's close invalidates the views taken from it
            r.close();
            r.close();
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class, () -> r.get("y")).kind());
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class, () -> r.get(0)).kind());
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class, r::asMap).kind());
            assertThrows(IllegalStateException.class, () -> y.getFloat(0));
            assertThrows(IllegalStateException.class, y::toFloatArray);

            // a model's close closes its open sessions and refuses new ones
            Result r2 = s2.run(Map.of("x", x));
            Tensor y2 = r2.get("y");
            m.close();
            assertTrue(s2.isClosed());
            e = assertThrows(EngineException.class, () -> s2.run(Map.of("x", x)));
            assertEquals(EngineException.Kind.CLOSED, e.kind());
            assertTrue(e.getMessage().contains("model 'mlp3.onnx' was closed"), e.getMessage());
            assertEquals(EngineException.Kind.CLOSED, assertThrows(EngineException.class, m::newSession).kind());
            assertEquals(y0, y2.getFloat(0), "a result outlives its model");
            r2.close();
            assertThrows(IllegalStateException.class, () -> y2.getFloat(0));
        }
    }

    @Test
    void closingTheModelWhileOtherThreadsRunWaitsForTheirRunsAndNeverCorruptsOne() throws Exception {
        Path f = mlp(dir, 5);
        float[] expected;
        try (Model m = Model.load(f); Session s = m.newSession(); Arena a = Arena.ofConfined();
             Result r = s.run(Map.of("x", input(a, 3, 6)))) {
            expected = r.get("y").toFloatArray();
        }
        for (int round = 0; round < 5; round++) {
            Model m = Model.load(f);
            List<Session> sessions = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                sessions.add(m.newSession());
            }
            AtomicInteger ok = new AtomicInteger();
            AtomicInteger closed = new AtomicInteger();
            AtomicReference<Throwable> bad = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (Session s : sessions) {
                threads.add(Thread.ofPlatform().start(() -> {
                    try (Arena a = Arena.ofConfined()) {
                        Tensor x = input(a, 3, 6);
                        while (true) {
                            try (Result r = s.run(Map.of("x", x))) {
                                if (!java.util.Arrays.equals(expected, r.get("y").toFloatArray())) {
                                    bad.compareAndSet(null, new AssertionError("a run returned different values"));
                                    return;
                                }
                                ok.incrementAndGet();
                            } catch (EngineException e) {
                                if (e.kind() != EngineException.Kind.CLOSED) {
                                    bad.compareAndSet(null, e);
                                }
                                closed.incrementAndGet();
                                return;
                            }
                        }
                    } catch (Throwable t) {
                        bad.compareAndSet(null, t);
                    }
                }));
            }
            while (ok.get() < 20 * (round + 1) && bad.get() == null) {
                Thread.sleep(1);
            }
            m.close();
            for (Thread t : threads) {
                t.join(60_000);
            }
            assertNull(bad.get(), () -> "a run failed otherwise than CLOSED: " + bad.get());
            assertEquals(3, closed.get(), "every thread ended with a CLOSED error");
        }
    }

    @Test
    void loadRunCloseCyclesGiveEveryByteBack() throws IOException {
        Path f = mlp(dir, 7);
        long before = held();
        try (Arena a = Arena.ofConfined()) {
            Tensor x = input(a, 5, 8);
            for (int i = 0; i < 50; i++) {
                try (Model m = Model.load(f); Session s = m.newSession(SessionOptions.defaults().withThreads(1 + i % 2))) {
                    for (int k = 0; k < 3; k++) {
                        s.run(Map.of("x", x)).close();
                    }
                    // a result left open is given back by its own close, not by the session's
                    Result kept = s.run(Map.of("x", x));
                    s.close();
                    assertTrue(held() > before);
                    kept.close();
                }
                assertEquals(before, held(), "cycle " + i);
            }
        }
    }

    @Test
    void aFailedLoadGivesBackWhatItMapped() throws IOException {
        Path f = mlp(dir, 9);
        byte[] bytes = Files.readAllBytes(f);
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        long before = held();
        for (int i = 0; i < 3; i++) {
            assertEquals(EngineException.Kind.MODEL_LOAD, assertThrows(EngineException.class, () -> Model.load(truncated)).kind());
            assertEquals(before, held());
        }
    }

    @Test
    void scratchIsCountedUntilCollected() throws InterruptedException {
        long big = 256L << 20;
        java.lang.foreign.MemorySegment s = NativeMemory.allocateScratch(big);
        assertEquals(0, s.address() % 64);
        assertTrue(NativeMemory.bytes(NativeMemory.Kind.SCRATCH) >= big);
        s = null;
        long until = System.nanoTime() + 20_000_000_000L;
        while (NativeMemory.bytes(NativeMemory.Kind.SCRATCH) >= big && System.nanoTime() < until) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(NativeMemory.bytes(NativeMemory.Kind.SCRATCH) < big, "uncounted once the GC freed it");
    }
}
