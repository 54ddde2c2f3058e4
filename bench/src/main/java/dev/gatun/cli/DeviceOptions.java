package dev.gatun.cli;

import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.cuda.CudaSession;
import picocli.CommandLine.Option;

/** {@code --device cpu|cuda[:N]} and {@code --cuda-math fp32|tf32|fp16}, shared by the commands that run models. */
final class DeviceOptions {
    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "Where to run: cpu or cuda[:N] (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--cuda-math", paramLabel = "MODE", defaultValue = "fp32",
            description = "GEMM precision on CUDA: fp32, tf32 or fp16 (default: ${DEFAULT-VALUE}).")
    String cudaMath;

    /** Options for {@code threads} on the chosen device; on CUDA, fails first with one line when no device is usable. */
    SessionOptions options(int threads) {
        SessionOptions o;
        try {
            o = SessionOptions.defaults().withThreads(threads).withDevice(device).withCudaMath(cudaMath);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device " + device + " / --cuda-math " + cudaMath + ": " + e.getMessage());
        }
        if (o.isCuda()) {
            CudaSession.requireDevice(o.cudaDevice());
        }
        return o;
    }

    boolean cuda() {
        return device.startsWith("cuda");
    }
}
