package dev.gatun.engine.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.LoadOptions;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Fuzzes the whole path a model file takes: bytes -> {@link Model#load(byte[], String, LoadOptions)} (protobuf
 * parse, validation, constant folding, graph optimisation) -> {@link Model#newSession} (planning every node) -> one
 * run on small random inputs. Small limits keep a fuzzed model from eating the machine; hitting one is an
 * {@link EngineException} of kind LIMIT like any other refusal. Anything other than an EngineException escaping
 * (IndexOutOfBounds, NullPointerException, OutOfMemoryError, StackOverflowError, a hang) is a finding.
 *
 * <p>Seeds: small ONNX node-test and PyTorch-converted models (Apache-2.0, from the ONNX project's backend test
 * data) under {@code OnnxLoaderFuzzTestInputs/loadPlanRun/}, plus every crash found, kept as a regression input.
 */
class OnnxLoaderFuzzTest {
    static final LoadOptions LOAD = new LoadOptions(16L << 20, 64L << 20, 10_000, 8);
    static final SessionOptions RUN = new SessionOptions(1, 16L << 20, 64L << 20);
    /** Inputs larger than this many elements are not generated (the model is loaded and planned, not run). */
    private static final long MAX_INPUT_ELEMENTS = 1 << 16;

    @FuzzTest(maxDuration = "10m")
    void loadPlanRun(byte[] data) {
        try (Model model = Model.load(data, "fuzz.onnx", LOAD);
             Session session = model.newSession(RUN);
             Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> inputs = inputs(model, arena, new Random(Arrays.hashCode(data)));
            if (inputs == null) {
                return;
            }
            try (Result r = session.run(inputs)) {
                for (String name : r.names()) {
                    TensorFileFuzzTest.touch(r.get(name));
                }
            }
        } catch (EngineException e) {
            FuzzSupport.checkMessage(e);
        }
    }

    /** Random inputs for every model input (symbolic dims 1..3), or null when one is too large or of no tensor type. */
    static Map<String, Tensor> inputs(Model model, Arena arena, Random rnd) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        Map<String, Long> symbols = new LinkedHashMap<>();
        for (TensorInfo in : model.inputs()) {
            if (in.dtype() == null || in.shape() == null) {
                return null;
            }
            Shape declared = in.shape();
            long[] dims = new long[declared.rank()];
            long n = 1;
            for (int d = 0; d < dims.length; d++) {
                long v = declared.dim(d);
                if (v == Shape.UNKNOWN) {
                    String sym = declared.dimName(d);
                    v = sym == null ? 1 + rnd.nextInt(3) : symbols.computeIfAbsent(sym, k -> 1L + rnd.nextInt(3));
                }
                dims[d] = v;
                if (v > MAX_INPUT_ELEMENTS || (n *= v) > MAX_INPUT_ELEMENTS) {
                    return null;
                }
            }
            m.put(in.name(), random(arena, in.dtype(), Shape.of(dims), rnd));
        }
        return m;
    }

    private static Tensor random(Arena arena, DType dtype, Shape shape, Random rnd) {
        long n = shape.size();
        if (dtype == DType.STRING) {
            String[] s = new String[(int) n];
            for (int i = 0; i < s.length; i++) {
                s[i] = Integer.toString(rnd.nextInt(100), 36);
            }
            return Tensor.ofStrings(shape, s);
        }
        Tensor t = Tensor.allocate(arena, dtype, shape);
        for (long i = 0; i < n; i++) {
            switch (dtype) {
                case FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> t.setDouble(i, rnd.nextGaussian());
                case BOOL -> t.setLong(i, rnd.nextInt(2));
                default -> t.setLong(i, rnd.nextInt(4));
            }
        }
        return t;
    }
}
