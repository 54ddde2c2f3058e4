package dev.gatun.bench;

import com.google.protobuf.ByteString;
import dev.gatun.bindings.cuda.Cublas;
import dev.gatun.bindings.cuda.Cuda;
import dev.gatun.bindings.cuda.CudaCheck;
import dev.gatun.bindings.cuda.CudaRuntime;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The GEMM bar on a GPU, in one process: raw {@code cublasSgemm} on an n^3 fp32 product (CUDA events, median
 * of 20), then the same product through the engine: a model of {@code chain} MatMuls X W W ... W (W [n, n] one
 * initializer, X [n, n] the input), run through {@link Session#run} on CUDA (CUDA-graph replay after two runs), wall
 * time per run (input upload and output download included), median of 10. Prints both rates and their ratio.
 * Usage: {@code java ... dev.gatun.bench.GpuGemmCheck [n=4096] [chain=32] [math=fp32]}.
 */
public final class GpuGemmCheck {
    private GpuGemmCheck() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
        int chain = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        String math = args.length > 2 ? args[2] : "fp32";
        Cuda.requireDevice(0);
        double flop = 2.0 * n * n * (double) n;
        double raw = rawSgemm(n);
        System.out.printf(Locale.ROOT, "raw cublasSgemm      n=%d: %.3f ms, %.1f TFLOP/s%n", n, raw, flop / raw / 1e9);
        double eng = engine(n, chain, math);
        double perGemm = eng / chain;
        System.out.printf(Locale.ROOT, "engine MatMul chain  n=%d x %d (%s): %.3f ms per run, %.3f ms per GEMM, %.1f TFLOP/s"
                + " (transfers included)%n", n, chain, math, eng, perGemm, flop / perGemm / 1e9);
        System.out.printf(Locale.ROOT, "engine / raw rate: %.1f%% (bar: >= 90%%)%n", 100 * raw / perGemm);
    }

    static double rawSgemm(int n) {
        try (Arena a = Arena.ofConfined()) {
            CudaCheck.rt(CudaRuntime.cudaSetDevice(0), "cudaSetDevice");
            long bytes = 4L * n * n;
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            MemorySegment[] m = new MemorySegment[3];
            for (int i = 0; i < 3; i++) {
                CudaCheck.rt(CudaRuntime.cudaMalloc(p, bytes), "cudaMalloc");
                m[i] = p.get(ValueLayout.ADDRESS, 0);
                CudaCheck.rt(CudaRuntime.cudaMemsetAsync(m[i], 0, bytes, MemorySegment.NULL), "cudaMemsetAsync");
            }
            CudaCheck.blas(Cublas.cublasCreate_v2(p), "cublasCreate_v2");
            MemorySegment h = p.get(ValueLayout.ADDRESS, 0);
            MemorySegment alpha = a.allocateFrom(ValueLayout.JAVA_FLOAT, 1f), beta = a.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
            MemorySegment e0 = event(a), e1 = event(a);
            MemorySegment ms = a.allocate(ValueLayout.JAVA_FLOAT);
            double[] t = new double[20];
            for (int i = -3; i < t.length; i++) {
                CudaCheck.rt(CudaRuntime.cudaEventRecord(e0, MemorySegment.NULL), "cudaEventRecord");
                CudaCheck.blas(Cublas.cublasSgemm_v2(h, 0, 0, n, n, n, alpha, m[0], n, m[1], n, beta, m[2], n), "cublasSgemm_v2");
                CudaCheck.rt(CudaRuntime.cudaEventRecord(e1, MemorySegment.NULL), "cudaEventRecord");
                CudaCheck.rt(CudaRuntime.cudaEventSynchronize(e1), "cudaEventSynchronize");
                CudaCheck.rt(CudaRuntime.cudaEventElapsedTime(ms, e0, e1), "cudaEventElapsedTime");
                if (i >= 0) {
                    t[i] = ms.get(ValueLayout.JAVA_FLOAT, 0);
                }
            }
            Cublas.cublasDestroy_v2(h);
            for (MemorySegment x : m) {
                CudaRuntime.cudaFree(x);
            }
            Arrays.sort(t);
            return t[t.length / 2];
        }
    }

    private static MemorySegment event(Arena a) {
        MemorySegment p = a.allocate(ValueLayout.ADDRESS);
        CudaCheck.rt(CudaRuntime.cudaEventCreate(p), "cudaEventCreate");
        return p.get(ValueLayout.ADDRESS, 0);
    }

    static double engine(int n, int chain, String math) {
        Random rnd = new Random(1);
        ByteBuffer w = ByteBuffer.allocate(4 * n * n).order(ByteOrder.LITTLE_ENDIAN);
        float s = (float) (1 / Math.sqrt(n));
        for (int i = 0; i < n * n; i++) {
            w.putFloat((float) rnd.nextGaussian() * s);
        }
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("chain");
        g.addInitializer(Onnx.TensorProto.newBuilder().setName("W").setDataType(1).addDims(n).addDims(n)
                .setRawData(ByteString.copyFrom(w.array())));
        g.addInput(Onnx.ValueInfoProto.newBuilder().setName("x").setType(Onnx.TypeProto.newBuilder().setTensorType(
                Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(Onnx.TensorShapeProto.newBuilder()
                        .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(n))
                        .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(n))))));
        String prev = "x";
        for (int i = 0; i < chain; i++) {
            String out = i == chain - 1 ? "y" : "h" + i;
            g.addNode(Onnx.NodeProto.newBuilder().setOpType("MatMul").setName("mm" + i).addInput(prev).addInput("W").addOutput(out));
            prev = out;
        }
        g.addOutput(Onnx.ValueInfoProto.newBuilder().setName("y").setType(Onnx.TypeProto.newBuilder().setTensorType(
                Onnx.TypeProto.Tensor.newBuilder().setElemType(1))));
        byte[] bytes = Onnx.ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build().toByteArray();
        try (Model m = Model.load(bytes, "matmul-chain"); Arena arena = Arena.ofShared();
             Session session = m.newSession(SessionOptions.defaults().withDevice("cuda").withCudaMath(math))) {
            float[] x = new float[n * n];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            Tensor in = Tensor.ofFloats(arena, x, n, n);
            Tensor out = Tensor.allocate(arena, dev.gatun.engine.tensor.DType.FLOAT, dev.gatun.engine.tensor.Shape.of(n, n));
            double[] t = new double[10];
            for (int i = -3; i < t.length; i++) {
                long t0 = System.nanoTime();
                session.run(Map.of("x", in), Map.of("y", out));
                if (i >= 0) {
                    t[i] = (System.nanoTime() - t0) / 1e6;
                }
            }
            var st = session.lastCudaRun();
            System.out.printf(Locale.ROOT, "engine run: graph replay %s, %d bytes up, %d bytes down, %d mid-run copies%n",
                    st.graphReplay(), st.h2dBytes(), st.d2hBytes(), st.midRunTransfers());
            Arrays.sort(t);
            return t[t.length / 2];
        }
    }
}
