package dev.gatun.server;

import dev.gatun.engine.tensor.DType;
import java.util.Locale;

/**
 * The KServe v2 datatype names and the engine's {@link DType}s. {@code BYTES} is the engine's string tensor
 * (and a pipeline's raw items: text, encoded images).
 */
public final class Datatypes {
    private Datatypes() {}

    /** The v2 name of a dtype ({@code FP32}, {@code INT64}, {@code BYTES}, ...). */
    public static String v2(DType t) {
        if (t == null) {
            return "UNKNOWN";
        }
        return switch (t) {
            case FLOAT -> "FP32";
            case DOUBLE -> "FP64";
            case FLOAT16 -> "FP16";
            case BFLOAT16 -> "BF16";
            case STRING -> "BYTES";
            default -> t.name();
        };
    }

    /**
     * The dtype a v2 datatype name (or an ONNX element type name such as {@code float}) stands for.
     *
     * @throws HttpError 400 naming the unknown type and the known ones
     */
    public static DType parse(String name, String where) {
        String n = name.toUpperCase(Locale.ROOT);
        DType t = switch (n) {
            case "FP32", "FLOAT", "FLOAT32" -> DType.FLOAT;
            case "FP64", "DOUBLE", "FLOAT64" -> DType.DOUBLE;
            case "FP16", "FLOAT16" -> DType.FLOAT16;
            case "BF16", "BFLOAT16" -> DType.BFLOAT16;
            case "BYTES", "STRING" -> DType.STRING;
            case "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64" -> DType.valueOf(n);
            default -> null;
        };
        if (t == null) {
            throw HttpError.badRequest(where + ": unknown datatype '" + name
                    + "' (known: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES)");
        }
        return t;
    }
}
