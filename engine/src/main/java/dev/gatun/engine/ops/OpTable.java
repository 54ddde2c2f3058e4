package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import java.util.stream.Collectors;

/** The supported-operator table, generated from {@link OpRegistry} (the README embeds it; a test keeps them equal). */
public final class OpTable {
    private OpTable() {}

    /** A Markdown table: op, opsets, element types. */
    public static String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("| op | opsets | types |\n|---|---|---|\n");
        for (OpInfo op : OpRegistry.all()) {
            String name = (op.domain().isEmpty() ? "" : op.domain() + ":") + op.opType();
            String types = op.dtypes().stream().map(DType::onnxName).collect(Collectors.joining(", "));
            String opsets = op.domain().isEmpty() ? Math.max(7, op.fromOpset()) + "-" + OpRegistry.MAX_OPSET
                    : op.fromOpset() + " (Gatun's own domain)";
            b.append("| ").append(name).append(" | ").append(opsets).append(" | ").append(types).append(" |\n");
        }
        return b.toString();
    }
}
