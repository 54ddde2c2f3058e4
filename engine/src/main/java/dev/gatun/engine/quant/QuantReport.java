package dev.gatun.engine.quant;

import java.util.List;
import java.util.Locale;

/**
 * What {@link Quantizer} did: every quantized layer with its weight error, every candidate node left in float with
 * the reason, and the model's size before and after.
 *
 * @param mode         "dynamic" or "static (qdq, minmax)"-style description
 * @param layers       the quantized nodes, in graph order
 * @param keptFloat    the Conv / MatMul / Gemm nodes left in float, and why
 * @param activations  activation tensors given static quantization parameters (0 in dynamic mode)
 * @param samples      calibration inputs run (0 in dynamic mode)
 * @param bytesBefore  serialized size of the input model
 * @param bytesAfter   serialized size of the quantized model
 */
public record QuantReport(String mode, List<Layer> layers, List<Skipped> keptFloat, int activations, int samples,
                          long bytesBefore, long bytesAfter) {
    public QuantReport {
        layers = List.copyOf(layers);
        keptFloat = List.copyOf(keptFloat);
    }

    /**
     * One quantized node.
     *
     * @param node        node name
     * @param op          its op type
     * @param weightShape the float weight's dims
     * @param perChannel  whether its weight has one scale per output channel
     * @param relError    ||w - dequant(quant(w))|| / ||w||
     * @param maxAbsError max |w - dequant(quant(w))|
     */
    public record Layer(String node, String op, String weightShape, boolean perChannel, double relError, double maxAbsError) {
        /** Signal-to-quantization-noise ratio of the weight, dB. */
        public double sqnrDb() {
            return relError == 0 ? Double.POSITIVE_INFINITY : -20 * Math.log10(relError);
        }
    }

    /** A node left in float: name, op type, why. */
    public record Skipped(String node, String op, String reason) {}

    /** The report as text, one line per layer. */
    public String format() {
        StringBuilder b = new StringBuilder();
        int w = 4;
        for (Layer l : layers) {
            w = Math.max(w, l.node().length());
        }
        for (Skipped s : keptFloat) {
            w = Math.max(w, s.node().length());
        }
        String name = "%-" + w + "s";
        b.append(String.format(Locale.ROOT, "quantized %d nodes (%s)%n", layers.size(), mode));
        if (!layers.isEmpty()) {
            b.append(String.format(Locale.ROOT, "  " + name + " %-8s %-18s %-11s %9s %8s %11s%n", "node", "op", "weight", "scales",
                    "rel err", "SQNR dB", "max abs err"));
            for (Layer l : layers) {
                b.append(String.format(Locale.ROOT, "  " + name + " %-8s %-18s %-11s %9.5f %8.1f %11.3g%n", l.node(), l.op(), l.weightShape(),
                        l.perChannel() ? "per-channel" : "per-tensor", l.relError(), l.sqnrDb(), l.maxAbsError()));
            }
            double worst = layers.stream().mapToDouble(Layer::relError).max().orElse(0);
            double mean = layers.stream().mapToDouble(Layer::relError).average().orElse(0);
            b.append(String.format(Locale.ROOT, "  weight rel err: mean %.5f, worst %.5f%n", mean, worst));
        }
        if (samples > 0) {
            b.append(String.format(Locale.ROOT, "calibrated %d activation tensors on %d inputs%n", activations, samples));
        }
        b.append(String.format(Locale.ROOT, "left in float: %d%n", keptFloat.size()));
        for (Skipped s : keptFloat) {
            b.append(String.format(Locale.ROOT, "  " + name + " %-8s %s%n", s.node(), s.op(), s.reason()));
        }
        b.append(String.format(Locale.ROOT, "size: %s -> %s (%.2fx smaller)%n", size(bytesBefore), size(bytesAfter),
                bytesAfter == 0 ? 0.0 : (double) bytesBefore / bytesAfter));
        return b.toString();
    }

    private static String size(long bytes) {
        return bytes >= 1 << 20 ? String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0)
                : String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
    }
}
