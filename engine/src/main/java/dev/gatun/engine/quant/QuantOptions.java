package dev.gatun.engine.quant;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * What {@link Quantizer} does; start from {@link #dynamic()} or {@link #staticInt8()} and change with the
 * {@code with...} methods.
 *
 * @param mode               {@link Mode#DYNAMIC}: weights int8, activations quantized at run time; {@link Mode#STATIC}:
 *                           activation ranges calibrated ahead of time
 * @param perChannel         one weight scale per output channel (else one per tensor)
 * @param conv               dynamic mode: quantize Conv too (static mode always does)
 * @param format             static mode: {@link Format#QDQ} (Quantize/DequantizeLinear around float ops) or
 *                           {@link Format#QOPERATOR} (QLinearConv, QLinearMatMul, MatMulInteger)
 * @param method             static mode: how an activation's range is chosen from what calibration saw
 * @param percentile         {@link Method#PERCENTILE}: the share of values kept inside the range, in percent
 * @param calibrationDir     static mode: a folder of calibration inputs (see {@link CalibrationData#fromDirectory}),
 *                           or null for random inputs
 * @param calibrationSamples static mode: how many random inputs when there is no folder
 * @param seed               random calibration inputs' seed
 * @param dims               values of symbolic input dims for random inputs (absent ones are 1)
 * @param exclude            node names left in float
 * @param threads            intra-op threads for calibration runs
 * @param perRowActivations  dynamic mode: each row of a MatMul / Gemm input (each token of a transformer) gets its
 *                           own scale and zero point at run time, instead of one per tensor (see {@link DynamicPass})
 */
public record QuantOptions(Mode mode, boolean perChannel, boolean conv, Format format, Method method, double percentile,
                           Path calibrationDir, int calibrationSamples, long seed, Map<String, Long> dims, Set<String> exclude,
                           int threads, boolean perRowActivations) {
    /** Dynamic or static quantization. */
    public enum Mode { DYNAMIC, STATIC }

    /** The static model's form. */
    public enum Format { QDQ, QOPERATOR }

    /** How calibration chooses an activation's range. */
    public enum Method {
        /** The smallest and largest values seen. */
        MINMAX,
        /** The range holding {@code percentile}% of the values seen (tails cut evenly on both sides). */
        PERCENTILE,
        /** The clipping threshold minimising the KL divergence between the value histogram and its quantized form. */
        ENTROPY
    }

    public QuantOptions {
        dims = Map.copyOf(dims);
        exclude = Set.copyOf(exclude);
        if (calibrationSamples < 1) {
            throw new IllegalArgumentException("calibration samples must be >= 1, got " + calibrationSamples);
        }
        if (!(percentile > 50 && percentile <= 100)) {
            throw new IllegalArgumentException("percentile must be in (50, 100], got " + percentile);
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
    }

    /** Dynamic, per-channel weights, per-row activations, MatMul/Gemm only. */
    public static QuantOptions dynamic() {
        return new QuantOptions(Mode.DYNAMIC, true, false, Format.QDQ, Method.MINMAX, 99.999, null, 32, 1, Map.of(), Set.of(), 1, true);
    }

    /** Static, per-channel, QDQ, min-max over 32 random inputs. */
    public static QuantOptions staticInt8() {
        return dynamic().withMode(Mode.STATIC);
    }

    public QuantOptions withMode(Mode m) {
        return new QuantOptions(m, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withPerChannel(boolean v) {
        return new QuantOptions(mode, v, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withConv(boolean v) {
        return new QuantOptions(mode, perChannel, v, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withFormat(Format f) {
        return new QuantOptions(mode, perChannel, conv, f, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withMethod(Method m) {
        return new QuantOptions(mode, perChannel, conv, format, m, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withPercentile(double p) {
        return new QuantOptions(mode, perChannel, conv, format, method, p, calibrationDir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withCalibrationDir(Path dir) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, dir, calibrationSamples, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withCalibrationSamples(int n) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, n, seed, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withSeed(long s) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, s, dims, exclude, threads, perRowActivations);
    }

    public QuantOptions withDims(Map<String, Long> d) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, d, exclude, threads, perRowActivations);
    }

    public QuantOptions withExclude(Set<String> names) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, names, threads, perRowActivations);
    }

    public QuantOptions withPerRowActivations(boolean v) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, threads, v);
    }

    public QuantOptions withThreads(int t) {
        return new QuantOptions(mode, perChannel, conv, format, method, percentile, calibrationDir, calibrationSamples, seed, dims, exclude, t, perRowActivations);
    }
}
