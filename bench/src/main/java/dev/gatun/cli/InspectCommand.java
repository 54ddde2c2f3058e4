package dev.gatun.cli;

import dev.gatun.engine.KernelChoice;
import dev.gatun.engine.Model;
import dev.gatun.engine.NodeInfo;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.ops.SparsePlanner;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code gatun inspect}: what a model file holds and whether Gatun can run it. Loading never needs the ops to be
 * supported, so this works on any well-formed model.
 */
@Command(name = "inspect", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class,
        description = {"Show what a model holds and whether Gatun can run it.",
                "",
                "Prints the file, IR version, producer, opsets, inputs and outputs with",
                "their shapes, the op histogram (nodes per op, and whether Gatun supports",
                "the op at the model's opset), the parameter count and bytes, and the",
                "nodes left to run after constant folding and fusion, and for each product",
                "with a constant weight whether it runs sparse (-Dgatun.sparse=auto|off|force)",
                "with the weight's sparsity and the estimated speedup. Works on models with",
                "unsupported ops.",
                ""})
final class InspectCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file, or a built-in name: minilm, minilm-q.")
    String model;

    @picocli.CommandLine.Option(names = "--device", paramLabel = "DEVICE",
            description = "Also plan for cpu or cuda[:N] and show where each node runs.")
    String device;

    @Override
    int execute() throws IOException {
        Path file = ModelFiles.resolve(model, err());
        PrintWriter out = out();
        dev.gatun.engine.SessionOptions options = null;
        if (device != null) {
            DeviceOptions d = new DeviceOptions();
            d.device = device;
            d.cudaMath = "fp32";
            options = d.options(1);
        }
        try (Model m = Model.load(file)) {
            out.println("file:       " + file + " (" + bytes(Files.size(file)) + ")");
            out.println("ir version: " + m.irVersion());
            out.println("producer:   " + (m.producer().isEmpty() ? "(none)" : m.producer()));
            List<String> opsets = new ArrayList<>();
            new TreeMap<>(m.opsets()).forEach((d, v) -> opsets.add((d.isEmpty() ? "ai.onnx" : d) + " " + v));
            out.println("opsets:     " + String.join(", ", opsets));
            out.println("inputs:");
            for (TensorInfo t : m.inputs()) {
                out.println("  " + t);
            }
            out.println("outputs:");
            for (TensorInfo t : m.outputs()) {
                out.println("  " + t);
            }
            List<NodeInfo> nodes = m.nodes();
            Map<String, int[]> counts = new LinkedHashMap<>();
            Map<String, NodeInfo> first = new LinkedHashMap<>();
            for (NodeInfo n : nodes) {
                String op = (n.domain().isEmpty() || n.domain().equals("ai.onnx") ? "" : n.domain() + ":") + n.opType();
                int[] c = counts.computeIfAbsent(op, k -> new int[2]);
                c[0]++;
                if (!n.supported()) {
                    c[1]++;
                }
                first.putIfAbsent(op, n);
            }
            List<String> ops = new ArrayList<>(counts.keySet());
            ops.sort((a, b) -> counts.get(b)[0] != counts.get(a)[0] ? Integer.compare(counts.get(b)[0], counts.get(a)[0]) : a.compareTo(b));
            int width = ops.stream().mapToInt(String::length).max().orElse(2);
            out.println("ops:        " + nodes.size() + " nodes, " + ops.size() + " op types");
            int unsupportedNodes = 0;
            List<String> unsupportedOps = new ArrayList<>();
            for (String op : ops) {
                int[] c = counts.get(op);
                NodeInfo n = first.get(op);
                String support = c[1] == 0 ? "supported" : "UNSUPPORTED at opset " + n.opset();
                out.println(String.format(Locale.ROOT, "  %-" + width + "s %6d  %s", op, c[0], support));
                if (c[1] > 0) {
                    unsupportedNodes += c[1];
                    unsupportedOps.add(op);
                }
            }
            out.println(String.format(Locale.ROOT, "parameters: %,d (%s)", m.parameterCount(), bytes(m.parameterBytes())));
            out.println("after folding and fusion: " + m.runtimeNodeCount() + " nodes to run");
            if (unsupportedOps.isEmpty()) {
                List<KernelChoice> choices = m.kernelChoices();
                // a fused node's note lists its weights: "W1 sparse ...; W2 dense ..."
                List<String> products = choices.stream()
                        .flatMap(c -> java.util.Arrays.stream(c.kernel().split("; ")))
                        .map(p -> p.replaceFirst("^W\\d+ ", "")).toList();
                long sparse = products.stream().filter(p -> p.startsWith("sparse")).count();
                if (!choices.isEmpty()) {
                    out.println("weights:    " + sparse + " of " + products.size() + " constant-weight products sparse (-Dgatun.sparse="
                            + SparsePlanner.mode().name().toLowerCase(Locale.ROOT) + ")");
                    for (KernelChoice c : choices) {
                        out.println("  " + c.node() + " (" + c.opType() + "): " + c.kernel());
                    }
                }
            }
            out.println(unsupportedOps.isEmpty() ? "support:    every op is supported"
                    : "support:    " + unsupportedNodes + " of " + nodes.size() + " nodes unsupported (" + String.join(", ", unsupportedOps) + ")");
            if (options != null) {
                try (dev.gatun.engine.Session s = m.newSession(options)) {
                    java.util.List<dev.gatun.engine.Session.Placement> pl = s.placements();
                    java.util.Map<String, Long> per = new java.util.TreeMap<>();
                    for (dev.gatun.engine.Session.Placement p : pl) {
                        per.merge(p.device(), 1L, Long::sum);
                    }
                    out.println("placement:  " + s.deviceDescription() + ": " + per);
                    for (dev.gatun.engine.Session.Placement p : pl) {
                        out.println(String.format(Locale.ROOT, "  %-8s %-24s %s", p.device(), p.opType(), p.node()));
                    }
                }
            }
        }
        return 0;
    }

    static String bytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
