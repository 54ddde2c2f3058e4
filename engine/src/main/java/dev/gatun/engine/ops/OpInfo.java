package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import java.util.List;

/**
 * One operator a family supports: its domain ("" for ai.onnx), ONNX op type, the lowest opset version
 * Gatun implements it for (all versions from there to {@link OpRegistry#MAX_OPSET} are handled), and the
 * element types it runs on (for the README's operator table and for plan-time checks).
 */
public record OpInfo(String domain, String opType, int fromOpset, List<DType> dtypes) {
    public OpInfo {
        dtypes = List.copyOf(dtypes);
    }

    /** An op in the default ai.onnx domain, supported from opset 1 on. */
    public static OpInfo of(String opType, DType... dtypes) {
        return new OpInfo("", opType, 1, List.of(dtypes));
    }

    /** An op in the default ai.onnx domain, supported from {@code fromOpset} on. */
    public static OpInfo of(String opType, int fromOpset, DType... dtypes) {
        return new OpInfo("", opType, fromOpset, List.of(dtypes));
    }
}
