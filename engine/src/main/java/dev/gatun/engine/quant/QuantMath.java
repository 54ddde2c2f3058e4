package dev.gatun.engine.quant;

/**
 * The quantizer's arithmetic.
 *
 * <p>Weights: symmetric int8, per tensor or per channel along one axis:
 * <pre>
 *   scale_c = max_i |w_i| / 127  over channel c (1 when the channel is all zeros)
 *   q_i     = clamp(rint(w_i / scale_c), -127, 127)        zero point 0
 * </pre>
 * (-128 is left out so that the range is symmetric, as ONNX Runtime does). The uint8 form used for ConvInteger is
 * {@code q + 128} with zero point 128.
 *
 * <p>Activations: asymmetric uint8 over the calibrated range widened to hold 0 (so that 0, padding and ReLU's
 * floor, is exact):
 * <pre>
 *   lo = min(min, 0), hi = max(max, 0), scale = (hi - lo) / 255, zero_point = clamp(rint(-lo / scale), 0, 255)
 * </pre>
 * Bias (int32, for QLinearConv and QDQ Conv/Gemm): {@code rint(b_c / (x_scale * w_scale_c))}, zero point 0.
 */
final class QuantMath {
    private QuantMath() {}

    /** Quantized weights: values (int8 or uint8 bytes), one scale per channel (one per tensor when axis < 0). */
    record Weights(byte[] q, float[] scales, int axis, double relError, double maxAbsError) {
        /** Weight error as signal-to-quantization-noise ratio in dB. */
        double sqnrDb() {
            return relError == 0 ? Double.POSITIVE_INFINITY : -20 * Math.log10(relError);
        }
    }

    /** Activation quantization parameters (uint8). */
    record Activation(float scale, int zeroPoint, float min, float max) {}

    /**
     * Symmetric int8 (or, with {@code unsigned}, uint8 + 128) quantization of {@code w} (row-major {@code dims}) per
     * slice of {@code axis}, or per tensor when {@code axis < 0}.
     */
    static Weights weights(float[] w, long[] dims, int axis, boolean unsigned) {
        int channels = axis < 0 ? 1 : (int) dims[axis];
        long inner = 1;
        if (axis >= 0) {
            for (int d = axis + 1; d < dims.length; d++) {
                inner *= dims[d];
            }
        }
        float[] maxAbs = new float[channels];
        for (int i = 0; i < w.length; i++) {
            int c = axis < 0 ? 0 : (int) ((i / inner) % channels);
            maxAbs[c] = Math.max(maxAbs[c], Math.abs(w[i]));
        }
        float[] scales = new float[channels];
        for (int c = 0; c < channels; c++) {
            scales[c] = maxAbs[c] > 0 && Float.isFinite(maxAbs[c]) ? maxAbs[c] / 127f : 1f;
        }
        byte[] q = new byte[w.length];
        double err2 = 0;
        double sig2 = 0;
        double maxErr = 0;
        for (int i = 0; i < w.length; i++) {
            int c = axis < 0 ? 0 : (int) ((i / inner) % channels);
            int v = (int) Math.max(-127, Math.min(127, Math.rint(w[i] / scales[c])));
            q[i] = (byte) (unsigned ? v + 128 : v);
            double e = w[i] - (double) v * scales[c];
            err2 += e * e;
            sig2 += (double) w[i] * w[i];
            maxErr = Math.max(maxErr, Math.abs(e));
        }
        return new Weights(q, scales, axis, sig2 == 0 ? 0 : Math.sqrt(err2 / sig2), maxErr);
    }

    /** uint8 parameters for values observed in [min, max]. */
    static Activation activation(float min, float max) {
        float lo = Math.min(min, 0f);
        float hi = Math.max(max, 0f);
        if (!Float.isFinite(lo) || !Float.isFinite(hi)) {
            throw new IllegalArgumentException("calibrated range [" + min + ", " + max + "] is not finite");
        }
        float scale = (hi - lo) / 255f;
        if (scale == 0f) {
            return new Activation(1f, 0, min, max);
        }
        int zp = (int) Math.max(0, Math.min(255, Math.rint(-lo / scale)));
        return new Activation(scale, zp, min, max);
    }

    /** int32 bias: {@code rint(b[c] / (xScale * wScale[c]))}, saturated. Returns the values; scales in {@code outScales}. */
    static int[] bias(float[] b, float xScale, float[] wScales, float[] outScales) {
        int[] q = new int[b.length];
        for (int c = 0; c < b.length; c++) {
            float s = xScale * wScales[wScales.length == 1 ? 0 : c];
            outScales[c] = s;
            double v = Math.rint(b[c] / (double) s);
            q[c] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
        }
        return q;
    }
}
