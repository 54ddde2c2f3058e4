package dev.gatun.engine.cuda;

import dev.gatun.bindings.cuda.Cublas;
import dev.gatun.bindings.cuda.Cuda;
import dev.gatun.bindings.cuda.CudaCheck;
import dev.gatun.bindings.cuda.CudaDriver;
import dev.gatun.bindings.cuda.CudaException;
import dev.gatun.bindings.cuda.CudaRuntime;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The CUDA executor behind a {@link dev.gatun.engine.Session} created with device {@code cuda[:N]}. It reuses the
 * session's {@link ExecutionPlan} (values, steps, uses) and places every step once, at open: on the GPU where
 * {@link GpuOps} has a kernel for it, else on the CPU with the plan's own kernel, its device inputs copied down and
 * its outputs copied up where a GPU step reads them. Constants a GPU step reads (the weights) are uploaded once, at
 * open. Values stay on the device between nodes; blocks go back to the session's {@link DeviceMemoryPool} when their
 * last reader has run. Everything is queued on one stream per session; a run synchronises once, at its end.
 *
 * <p>CUDA graphs: the first run of a set of input shapes runs step by step; when it moved no data between host and
 * device except the inputs and outputs (no CPU step reading device data), the second run of those shapes is captured
 * into a CUDA graph (inputs copied from pinned buffers of that signature, outputs to pinned buffers), and later runs
 * replay it with one launch. {@code -Dgatun.cuda.graphs=false} turns capture off; {@code -Dgatun.cuda.debug=true}
 * (or {@code GATUN_CUDA_DEBUG=1}) synchronises and checks after every step, naming the node, and turns capture off.
 */
public final class CudaSession implements AutoCloseable {
    /** Per-run transfer and memory figures. */
    public record RunStats(long h2dBytes, long d2hBytes, long midRunTransfers, boolean graphReplay, long poolReservedBytes,
                           long cudaMallocCalls) {}

    /** Where a node runs and why. */
    public record Placement(String node, String opType, String device) {}

    private static final int MAX_SIGNATURES = 16;
    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final ExecutionPlan plan;
    private final CudaDevice device;
    private final int computeType;
    private final boolean debug;
    private final boolean graphs;
    private final GpuPlanned[] gpu;
    private final boolean[] deviceNeeded;
    private final DeviceTensor[] constants;
    private final DeviceMemoryPool pool = new DeviceMemoryPool(DeviceMemoryPool.CUDA);
    private final Arena sessionArena = Arena.ofShared();
    private final MemorySegment stream;
    private final MemorySegment cublas;
    private final DeviceTensor errorFlag;
    private final MemorySegment pinnedFlag;
    private final MemorySegment args;
    private final MemorySegment argPtrs;
    private final MemorySegment scalars;
    private final Map<String, Signature> signatures = new LinkedHashMap<>(16, 0.75f, true);
    private final List<MemorySegment> pinned = new ArrayList<>();
    private Run run;
    private RunStats last = new RunStats(0, 0, 0, false, 0, 0);
    private boolean closed;

    /** One input-shape signature: its pinned staging buffers, output shapes and (once captured) graph. */
    private static final class Signature {
        MemorySegment[] in;
        MemorySegment[] out;
        DType[] outTypes;
        Shape[] outShapes;
        boolean capturable;
        int runs;
        MemorySegment exec;
    }

    private CudaSession(ExecutionPlan plan, int deviceIndex, String math, boolean debug, boolean graphs) {
        this.plan = plan;
        this.device = CudaDevice.get(deviceIndex);
        this.computeType = switch (math) {
            case "fp32" -> 68;   // CUBLAS_COMPUTE_32F
            case "tf32" -> 77;   // CUBLAS_COMPUTE_32F_FAST_TF32
            case "fp16" -> 74;   // CUBLAS_COMPUTE_32F_FAST_16F
            default -> throw new IllegalArgumentException("CUDA math mode '" + math + "' (fp32, tf32 or fp16)");
        };
        this.debug = debug;
        this.graphs = graphs && !debug;
        device.makeCurrent();
        List<ExecutionPlan.Step> steps = plan.steps();
        this.gpu = new GpuPlanned[steps.size()];
        this.deviceNeeded = new boolean[plan.valueCount()];
        boolean[] hostDerived = new boolean[plan.valueCount()];
        for (int i = 0; i < gpu.length; i++) {
            ExecutionPlan.Step s = steps.get(i);
            boolean anyComputed = false;
            boolean allHost = true;
            for (int v : s.inputs()) {
                if (v >= 0 && plan.constant(v) == null) {
                    anyComputed = true;
                    allHost &= hostDerived[v];
                }
            }
            GpuPlanned g = anyComputed && allHost ? null : GpuOps.plan(s.spec());
            gpu[i] = g;
            boolean shapeOnly = g != null && s.spec().opType().equals("Shape");
            for (int j = 0; j < s.inputs().length; j++) {
                int v = s.inputs()[j];
                if (v >= 0 && g != null && !g.onHost(j) && !shapeOnly) {
                    deviceNeeded[v] = true;
                }
            }
            for (int v : s.outputs()) {
                if (v >= 0) {
                    hostDerived[v] = g == null ? !anyComputed || allHost : shapeOnly;
                }
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            CudaCheck.rt(CudaRuntime.cudaStreamCreateWithFlags(p, 1), "cudaStreamCreateWithFlags(cudaStreamNonBlocking)");
            this.stream = p.get(ValueLayout.ADDRESS, 0);
            CudaCheck.blas(Cublas.cublasCreate_v2(p), "cublasCreate_v2");
            this.cublas = p.get(ValueLayout.ADDRESS, 0);
        }
        CudaCheck.blas(Cublas.cublasSetStream_v2(cublas, stream), "cublasSetStream_v2");
        CudaCheck.blas(Cublas.cublasSetWorkspace_v2(cublas, pool.allocate(CUBLAS_WORKSPACE).ptr(), CUBLAS_WORKSPACE),
                "cublasSetWorkspace_v2(" + CUBLAS_WORKSPACE + " bytes)");
        this.errorFlag = new DeviceTensor(DType.INT32, Shape.of(1), pool.allocate(4).ptr(), null);
        this.pinnedFlag = pinnedAlloc(4);
        this.args = sessionArena.allocate(4096, 16);
        this.argPtrs = sessionArena.allocate(ValueLayout.ADDRESS, 64);
        this.scalars = sessionArena.allocate(16, 16);
        this.constants = new DeviceTensor[plan.valueCount()];
        long bytes = 0;
        for (int v = 0; v < constants.length; v++) {
            Tensor c = plan.constant(v);
            if (c != null && deviceNeeded[v] && c.dtype() != DType.STRING) {
                DeviceTensor d = new DeviceTensor(c.dtype(), c.shape(), pool.allocate(c.byteSize()).ptr(), null);
                if (c.byteSize() > 0) {
                    CudaCheck.rt(CudaRuntime.cudaMemcpy(d.ptr(), c.data(), c.byteSize(), Cuda.H2D), "cudaMemcpy(weights, "
                            + c.byteSize() + " bytes)");
                }
                constants[v] = d;
                bytes += c.byteSize();
            }
        }
        this.weightBytes = bytes;
    }

    private final long weightBytes;

    /**
     * Opens the CUDA side of a session.
     *
     * @param math fp32 (default), tf32 or fp16: the precision cuBLAS may use inside GEMMs (inputs and outputs stay fp32)
     * @throws EngineException UNSUPPORTED with "no CUDA device/library" messages when CUDA is not usable here
     */
    public static CudaSession open(ExecutionPlan plan, int device, String math) {
        requireDevice(device);
        boolean debug = Boolean.getBoolean("gatun.cuda.debug") || "1".equals(System.getenv("GATUN_CUDA_DEBUG"));
        boolean graphs = !"false".equals(System.getProperty("gatun.cuda.graphs"));
        try {
            return new CudaSession(plan, device, math, debug, graphs);
        } catch (CudaException e) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, switch (e.kind()) {
                case NO_LIBRARY -> "no CUDA library found: " + e.getMessage();
                case NO_DEVICE -> e.getMessage().startsWith("no CUDA device") ? e.getMessage() : "no CUDA device: " + e.getMessage();
                case CALL_FAILED -> "CUDA failed while opening the session: " + e.getMessage();
            }, e);
        }
    }

    /**
     * Checks that CUDA device {@code device} can be used (libraries load, the device exists and initialises).
     *
     * @throws EngineException UNSUPPORTED saying which library or device was not found
     */
    public static String requireDevice(int device) {
        try {
            CudaDevice d = CudaDevice.get(device);
            return "cuda:" + d.index + " (" + d.arch() + ", " + d.smCount + " SMs)";
        } catch (CudaException e) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, switch (e.kind()) {
                case NO_LIBRARY -> "no CUDA library found: " + e.getMessage();
                case NO_DEVICE -> e.getMessage().startsWith("no CUDA device") ? e.getMessage() : "no CUDA device: " + e.getMessage();
                case CALL_FAILED -> "CUDA failed to initialise: " + e.getMessage();
            }, e);
        }
    }

    /** Where each planned node runs ("cuda:N" or "cpu"). */
    public List<Placement> placements() {
        List<Placement> l = new ArrayList<>();
        for (int i = 0; i < gpu.length; i++) {
            ExecutionPlan.Step s = plan.steps().get(i);
            l.add(new Placement(s.spec().name(), s.spec().opType(), gpu[i] != null ? "cuda:" + device.index : "cpu"));
        }
        return l;
    }

    /** Figures of the last run. */
    public RunStats lastRun() {
        return last;
    }

    /** Bytes of weights uploaded at open. */
    public long weightBytes() {
        return weightBytes;
    }

    /** "sm_90, 132 SMs" and the like. */
    public String deviceDescription() {
        return "cuda:" + device.index + " (" + device.arch() + ", " + device.smCount + " SMs)";
    }

    // ------------------------------------------------------------------------------------------------ running

    /** State of one run: values, their host/device copies and the block reference counts. */
    private final class Run implements GpuContext, KernelContext {
        final Arena host = Arena.ofConfined();
        final Object[] vals = new Object[plan.valueCount()];
        final Tensor[] hostCopy = new Tensor[plan.valueCount()];
        final DeviceTensor[] devCopy = new DeviceTensor[plan.valueCount()];
        final int[] remaining = new int[plan.valueCount()];
        final IdentityHashMap<DeviceMemoryPool.Block, Integer> refs = new IdentityHashMap<>();
        final List<DeviceMemoryPool.Block> stepAllocs = new ArrayList<>();
        final Signature sig;
        final boolean capturing;
        String where = "";
        long h2d;
        long d2h;
        long mid;
        boolean cpuReadDevice;

        Run(Signature sig, boolean capturing) {
            this.sig = sig;
            this.capturing = capturing;
            for (int v = 0; v < remaining.length; v++) {
                remaining[v] = plan.uses(v);
            }
        }

        @Override
        public DeviceTensor alloc(DType dtype, Shape shape) {
            long bytes = Math.multiplyExact(shape.size(), (long) dtype.byteSize());
            DeviceMemoryPool.Block b = pool.allocate(bytes);
            stepAllocs.add(b);
            return new DeviceTensor(dtype, shape, b.ptr(), b);
        }

        @Override
        public Tensor allocate(DType dtype, Shape shape) {
            return Tensor.allocate(host, dtype, shape);
        }

        @Override
        public Tensor hostAllocate(DType dtype, Shape shape) {
            return Tensor.allocate(host, dtype, shape);
        }

        @Override
        public void launch(String file, String kernel, long work, Object... a) {
            long blocks = Math.max(1, Math.min((work + 255) / 256, (long) device.smCount * 16));
            launchKernel(file, kernel, blocks, 256, 0, a);
        }

        @Override
        public void launchRows(String file, String kernel, long rows, int threads, int sharedBytes, Object... a) {
            launchKernel(file, kernel, Math.max(1, Math.min(rows, 1 << 16)), threads, sharedBytes, a);
        }

        @Override
        public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, DeviceTensor a, long offA, long sA,
                         DeviceTensor b, long offB, long sB, float beta, DeviceTensor c, long sC, int batch) {
            // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
            int opA = transB ? 1 : 0, opB = transA ? 1 : 0;
            int lda = transB ? k : n, ldb = transA ? m : k;
            scalars.set(ValueLayout.JAVA_FLOAT, 0, alpha);
            scalars.set(ValueLayout.JAVA_FLOAT, 4, beta);
            MemorySegment al = scalars, be = scalars.asSlice(4);
            String what = "(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ") at " + where;
            if (batch == 1) {
                CudaCheck.blas(Cublas.cublasGemmEx(cublas, opA, opB, n, m, k, al, b.at(offB), 0, lda, a.at(offA), 0, ldb, be,
                        c.ptr(), 0, n, computeType, -1), "cublasGemmEx" + what);
            } else {
                CudaCheck.blas(Cublas.cublasGemmStridedBatchedEx(cublas, opA, opB, n, m, k, al, b.at(offB), 0, lda, sB,
                        a.at(offA), 0, ldb, sA, be, c.ptr(), 0, n, sC, batch, computeType, -1), "cublasGemmStridedBatchedEx" + what);
            }
        }

        @Override
        public void copy(DeviceTensor src, DeviceTensor dst) {
            CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(dst.ptr(), src.ptr(), src.byteSize(), Cuda.D2D, stream),
                    "cudaMemcpyAsync(device to device) at " + where);
        }

        @Override
        public DeviceTensor errorFlag() {
            return errorFlag;
        }

        @Override
        public String where() {
            return where;
        }

        @Override
        public int threads() {
            return 1;
        }

        void hold(DeviceTensor t, int uses) {
            if (t.block() != null) {
                refs.merge(t.block(), uses, Integer::sum);
            }
        }

        void drop(DeviceTensor t) {
            if (t != null && t.block() != null) {
                Integer n = refs.get(t.block());
                if (n != null) {
                    if (n <= 1) {
                        refs.remove(t.block());
                        pool.release(t.block());
                    } else {
                        refs.put(t.block(), n - 1);
                    }
                }
            }
        }

        /** Value v on the device (uploading a host value once). */
        DeviceTensor onDevice(int v) {
            Object o = vals[v];
            if (o instanceof DeviceTensor d) {
                return d;
            }
            if (devCopy[v] != null) {
                return devCopy[v];
            }
            if (capturing) {
                throw new CaptureBroken();
            }
            Tensor t = (Tensor) o;
            DeviceTensor d = alloc(t.dtype(), t.shape());
            stepAllocs.remove(d.block());
            hold(d, remaining[v]);
            if (t.byteSize() > 0) {
                CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(d.ptr(), t.data(), t.byteSize(), Cuda.H2D, stream),
                        "cudaMemcpyAsync(host to device, " + t.byteSize() + " bytes) at " + where);
            }
            h2d += t.byteSize();
            mid++;
            devCopy[v] = d;
            return d;
        }

        /** Value v on the host (copying a device value down once: synchronises the stream). */
        Tensor onHost(int v) {
            Object o = vals[v];
            if (o instanceof Tensor t) {
                return t;
            }
            if (hostCopy[v] != null) {
                return hostCopy[v];
            }
            if (capturing) {
                throw new CaptureBroken();
            }
            DeviceTensor d = (DeviceTensor) o;
            Tensor t = Tensor.allocate(host, d.dtype(), d.shape());
            if (d.byteSize() > 0) {
                CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(t.data(), d.ptr(), d.byteSize(), Cuda.D2H, stream),
                        "cudaMemcpyAsync(device to host, " + d.byteSize() + " bytes) at " + where);
                CudaCheck.rt(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (before " + where + ")");
            }
            d2h += d.byteSize();
            mid++;
            hostCopy[v] = t;
            return t;
        }

        void set(int v, Object o) {
            vals[v] = o;
            if (o instanceof DeviceTensor d) {
                hold(d, remaining[v]);
            }
        }

        /** One read of value v done: its blocks lose one reference (freed at the last). */
        void consumed(int v) {
            remaining[v]--;
            if (vals[v] instanceof DeviceTensor d) {
                drop(d);
            }
            drop(devCopy[v]);
        }
    }

    private static final class CaptureBroken extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CaptureBroken() {
            super("a step needs device data on the host during capture", null, false, false);
        }
    }

    private void launchKernel(String file, String kernel, long blocks, int threads, int sharedBytes, Object[] a) {
        MemorySegment f = device.function(file, kernel);
        long off = 0;
        for (int i = 0; i < a.length; i++) {
            Object o = a[i];
            long size;
            if (o instanceof Bcast g) {
                off = (off + 7) & ~7L;
                g.write(args.asSlice(off, Bcast.BYTES));
                size = Bcast.BYTES;
            } else if (o instanceof Long l) {
                off = (off + 7) & ~7L;
                args.set(ValueLayout.JAVA_LONG, off, l);
                size = 8;
            } else if (o instanceof Integer n) {
                off = (off + 3) & ~3L;
                args.set(ValueLayout.JAVA_INT, off, n);
                size = 4;
            } else if (o instanceof Float x) {
                off = (off + 3) & ~3L;
                args.set(ValueLayout.JAVA_FLOAT, off, x);
                size = 4;
            } else {
                off = (off + 7) & ~7L;
                MemorySegment p = o == null ? MemorySegment.NULL : o instanceof DeviceTensor d ? d.ptr() : (MemorySegment) o;
                args.set(ValueLayout.ADDRESS, off, p);
                size = 8;
            }
            argPtrs.setAtIndex(ValueLayout.ADDRESS, i, args.asSlice(off));
            off += size;
        }
        if (sharedBytes > 48 * 1024) {
            CudaCheck.drv(CudaDriver.cuFuncSetAttribute(f, 8, sharedBytes), "cuFuncSetAttribute(" + kernel
                    + ", MAX_DYNAMIC_SHARED_SIZE_BYTES, " + sharedBytes + ")");
        }
        String where = run == null ? "" : run.where;
        CudaCheck.drv(CudaDriver.cuLaunchKernel(f, (int) blocks, 1, 1, threads, 1, 1, sharedBytes, stream, argPtrs,
                MemorySegment.NULL), "cuLaunchKernel(" + kernel + ", grid " + blocks + ", block " + threads + ", shared "
                + sharedBytes + ") at " + where);
        if (debug) {
            CudaCheck.rt(CudaRuntime.cudaStreamSynchronize(stream), kernel + " at " + where + " (debug sync)");
        }
    }

    /**
     * Runs the plan on {@code inputs} (graph-input order, validated by the session). The outputs are host tensors
     * valid until {@link #endRun()}.
     */
    public Tensor[] run(Tensor[] inputs) {
        if (closed) {
            throw new EngineException(EngineException.Kind.CLOSED, "CUDA session is closed");
        }
        device.makeCurrent();
        StringBuilder key = new StringBuilder();
        for (Tensor t : inputs) {
            key.append(t.dtype()).append(t.shape()).append(';');
        }
        Signature sig = signatures.get(key.toString());
        if (sig == null) {
            sig = newSignature(inputs);
            signatures.put(key.toString(), sig);
            evict();
        }
        try {
            if (sig.exec != null) {
                return replay(sig, inputs);
            }
            if (graphs && sig.capturable && sig.runs >= 1) {
                Tensor[] out = capture(sig, inputs);
                if (out != null) {
                    return out;
                }
            }
            return eager(sig, inputs, false);
        } catch (CudaException e) {
            throw new EngineException(EngineException.Kind.RUNTIME, e.getMessage(), e);
        }
    }

    private Signature newSignature(Tensor[] inputs) {
        Signature s = new Signature();
        s.in = new MemorySegment[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            s.in[i] = inputs[i].dtype() == DType.STRING ? null : pinnedAlloc(Math.max(inputs[i].byteSize(), 1));
        }
        return s;
    }

    private void evict() {
        while (signatures.size() > MAX_SIGNATURES) {
            var it = signatures.entrySet().iterator();
            Signature old = it.next().getValue();
            it.remove();
            if (old.exec != null) {
                CudaRuntime.cudaGraphExecDestroy(old.exec);
            }
        }
    }

    private MemorySegment pinnedAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            CudaCheck.rt(CudaRuntime.cudaMallocHost(p, bytes), "cudaMallocHost(" + bytes + " bytes)");
            MemorySegment seg = p.get(ValueLayout.ADDRESS, 0).reinterpret(bytes);
            pinned.add(seg);
            return seg;
        }
    }

    private void stage(Signature sig, Tensor[] inputs) {
        for (int i = 0; i < inputs.length; i++) {
            if (sig.in[i] != null && inputs[i].byteSize() > 0) {
                MemorySegment.copy(inputs[i].data(), 0, sig.in[i], 0, inputs[i].byteSize());
            }
        }
    }

    /** Step by step; with {@code capturing}, inside a stream capture (nothing may synchronise). */
    private Tensor[] eager(Signature sig, Tensor[] inputs, boolean capturing) {
        Run r = new Run(sig, capturing);
        run = r;
        if (!capturing) {
            stage(sig, inputs);
        }
        CudaCheck.rt(CudaRuntime.cudaMemsetAsync(errorFlag.ptr(), 0, 4, stream), "cudaMemsetAsync(error flag)");
        int[] inIds = plan.inputIds();
        for (int i = 0; i < inIds.length; i++) {
            int v = inIds[i];
            Tensor t = inputs[i];
            if (deviceNeeded[v] && t.dtype() != DType.STRING) {
                DeviceTensor d = r.alloc(t.dtype(), t.shape());
                r.stepAllocs.clear();
                if (t.byteSize() > 0) {
                    CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(d.ptr(), sig.in[i], t.byteSize(), Cuda.H2D, stream),
                            "cudaMemcpyAsync(input " + i + ", " + t.byteSize() + " bytes)");
                }
                r.h2d += t.byteSize();
                r.set(v, d);
                r.hostCopy[v] = t;
            } else {
                r.vals[v] = t;
            }
        }
        List<ExecutionPlan.Step> steps = plan.steps();
        for (int si = 0; si < steps.size(); si++) {
            ExecutionPlan.Step s = steps.get(si);
            r.where = s.spec().where();
            GpuPlanned g = gpu[si];
            Object[] outs;
            int n = s.inputs().length;
            if (g != null) {
                Object[] ins = new Object[n];
                for (int j = 0; j < n; j++) {
                    int v = s.inputs()[j];
                    if (v < 0) {
                        continue;
                    }
                    Tensor c = plan.constant(v);
                    if (g.onHost(j) || (s.spec().opType().equals("Shape"))) {
                        ins[j] = c != null ? c : g.onHost(j) ? r.onHost(v) : shapeCarrier(r, v);
                    } else {
                        ins[j] = c != null ? constants[v] : r.onDevice(v);
                    }
                }
                outs = g.kernel().run(r, ins);
            } else {
                Tensor[] ins = new Tensor[n];
                for (int j = 0; j < n; j++) {
                    int v = s.inputs()[j];
                    if (v >= 0) {
                        Tensor c = plan.constant(v);
                        if (c == null && !(r.vals[v] instanceof Tensor) && r.hostCopy[v] == null) {
                            r.cpuReadDevice = true;
                        }
                        ins[j] = c != null ? c : r.onHost(v);
                    }
                }
                try {
                    outs = s.kernel().run(r, ins);
                } catch (EngineException e) {
                    throw e;
                } catch (RuntimeException e) {
                    throw new EngineException(EngineException.Kind.RUNTIME, r.where + " (on the CPU): " + e, e);
                }
            }
            for (int j = 0; j < s.outputs().length; j++) {
                int v = s.outputs()[j];
                if (v >= 0) {
                    if (j >= outs.length || outs[j] == null) {
                        throw new EngineException(EngineException.Kind.RUNTIME, r.where + ": output " + j + " missing");
                    }
                    r.set(v, outs[j]);
                }
            }
            for (DeviceMemoryPool.Block b : r.stepAllocs) {
                if (!r.refs.containsKey(b)) {
                    pool.release(b);
                }
            }
            r.stepAllocs.clear();
            for (int v : s.inputs()) {
                if (v >= 0 && plan.constant(v) == null) {
                    r.consumed(v);
                }
            }
            if (debug) {
                CudaCheck.rt(CudaRuntime.cudaStreamSynchronize(stream), r.where + " (debug sync after the step)");
                checkFlag(r);
            }
        }
        int[] outIds = plan.outputIds();
        Tensor[] result = new Tensor[outIds.length];
        if (sig.out == null) {
            sig.out = new MemorySegment[outIds.length];
            sig.outTypes = new DType[outIds.length];
            sig.outShapes = new Shape[outIds.length];
        }
        for (int i = 0; i < outIds.length; i++) {
            int v = outIds[i];
            Object o = r.vals[v];
            Tensor c = plan.constant(v);
            if (c != null) {
                result[i] = c;
            } else if (o instanceof DeviceTensor d) {
                if (sig.out[i] == null || sig.out[i].byteSize() < d.byteSize()) {
                    sig.out[i] = pinnedAlloc(Math.max(d.byteSize(), 1));
                }
                sig.outTypes[i] = d.dtype();
                sig.outShapes[i] = d.shape();
                if (d.byteSize() > 0) {
                    CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(sig.out[i], d.ptr(), d.byteSize(), Cuda.D2H, stream),
                            "cudaMemcpyAsync(output " + i + ", " + d.byteSize() + " bytes)");
                }
                r.d2h += d.byteSize();
            } else {
                result[i] = (Tensor) o;
                r.cpuReadDevice |= capturing;
            }
        }
        CudaCheck.rt(CudaRuntime.cudaMemcpyAsync(pinnedFlag, errorFlag.ptr(), 4, Cuda.D2H, stream), "cudaMemcpyAsync(error flag)");
        if (capturing) {
            for (int i = 0; i < outIds.length; i++) {
                int v = outIds[i];
                if (!(r.vals[v] instanceof DeviceTensor) && plan.constant(v) == null) {
                    throw new CaptureBroken();
                }
            }
            releaseAll(r);
            return null;
        }
        CudaCheck.rt(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (end of run)");
        checkFlag(r);
        for (int i = 0; i < outIds.length; i++) {
            if (result[i] == null) {
                Tensor t = Tensor.allocate(r.host, sig.outTypes[i], sig.outShapes[i]);
                MemorySegment.copy(sig.out[i], 0, t.data(), 0, t.byteSize());
                result[i] = t;
            }
        }
        sig.runs++;
        sig.capturable = !r.cpuReadDevice && r.mid == 0;
        last = new RunStats(r.h2d, r.d2h, r.mid, false, pool.reservedBytes(), pool.mallocCalls());
        releaseAll(r);
        return result;
    }

    /** A device value as a host tensor with its shape only (for Shape on the GPU path): a zero-size view. */
    private static Object shapeCarrier(Run r, int v) {
        Object o = r.vals[v];
        return o instanceof DeviceTensor d ? d : o;
    }

    private void releaseAll(Run r) {
        for (DeviceMemoryPool.Block b : r.refs.keySet()) {
            pool.release(b);
        }
        r.refs.clear();
    }

    private void checkFlag(Run r) {
        if (pinnedFlag.get(ValueLayout.JAVA_INT, 0) != 0 && !r.capturing) {
            throw new EngineException(EngineException.Kind.RUNTIME, "a Gather index was out of range"
                    + (debug ? " at " + r.where : " (run with -Dgatun.cuda.debug=true to name the node)"));
        }
    }

    private Tensor[] capture(Signature sig, Tensor[] inputs) {
        stage(sig, inputs);
        CudaCheck.rt(CudaRuntime.cudaStreamBeginCapture(stream, 2), "cudaStreamBeginCapture(relaxed)");
        boolean ok = false;
        MemorySegment graph = MemorySegment.NULL;
        try (Arena a = Arena.ofConfined()) {
            try {
                eager(sig, inputs, true);
                ok = true;
            } catch (CaptureBroken e) {
                ok = false;
            } finally {
                MemorySegment g = a.allocate(ValueLayout.ADDRESS);
                int st = CudaRuntime.cudaStreamEndCapture(stream, g);
                graph = g.get(ValueLayout.ADDRESS, 0);
                if (st != 0) {
                    ok = false;
                }
                if (!ok) {
                    releaseAll(run);
                }
            }
            if (!ok) {
                if (!graph.equals(MemorySegment.NULL)) {
                    CudaRuntime.cudaGraphDestroy(graph);
                }
                sig.capturable = false;
                return null;
            }
            MemorySegment exec = a.allocate(ValueLayout.ADDRESS);
            CudaCheck.rt(CudaRuntime.cudaGraphInstantiate(exec, graph, 0), "cudaGraphInstantiate");
            CudaCheck.rt(CudaRuntime.cudaGraphDestroy(graph), "cudaGraphDestroy");
            sig.exec = exec.get(ValueLayout.ADDRESS, 0);
        }
        return replay(sig, inputs);
    }

    private Tensor[] replay(Signature sig, Tensor[] inputs) {
        Run r = new Run(sig, false);
        run = r;
        long h2d = 0;
        stage(sig, inputs);
        int[] inIds = plan.inputIds();
        for (int i = 0; i < inIds.length; i++) {
            if (deviceNeeded[inIds[i]] && sig.in[i] != null) {
                h2d += inputs[i].byteSize();
            }
        }
        CudaCheck.rt(CudaRuntime.cudaGraphLaunch(sig.exec, stream), "cudaGraphLaunch");
        CudaCheck.rt(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (after the graph)");
        checkFlag(r);
        int[] outIds = plan.outputIds();
        Tensor[] result = new Tensor[outIds.length];
        long d2h = 0;
        for (int i = 0; i < outIds.length; i++) {
            Tensor c = plan.constant(outIds[i]);
            if (c != null) {
                result[i] = c;
                continue;
            }
            Tensor t = Tensor.allocate(r.host, sig.outTypes[i], sig.outShapes[i]);
            MemorySegment.copy(sig.out[i], 0, t.data(), 0, t.byteSize());
            d2h += t.byteSize();
            result[i] = t;
        }
        last = new RunStats(h2d, d2h, 0, true, pool.reservedBytes(), pool.mallocCalls());
        return result;
    }

    /** Ends the run: its host memory (the outputs returned by {@link #run}) is freed. */
    public void endRun() {
        if (run != null) {
            run.host.close();
            run = null;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        endRun();
        device.makeCurrent();
        CudaRuntime.cudaStreamSynchronize(stream);
        for (Signature s : signatures.values()) {
            if (s.exec != null) {
                CudaRuntime.cudaGraphExecDestroy(s.exec);
            }
        }
        signatures.clear();
        Cublas.cublasDestroy_v2(cublas);
        CudaRuntime.cudaStreamDestroy(stream);
        pool.close();
        for (MemorySegment p : pinned) {
            CudaRuntime.cudaFreeHost(p);
        }
        pinned.clear();
        sessionArena.close();
    }
}
