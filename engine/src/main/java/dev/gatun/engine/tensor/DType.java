package dev.gatun.engine.tensor;

/**
 * Element types, numbered exactly as ONNX's {@code TensorProto.DataType}; there is no second numbering.
 * {@link #byteSize()} is the storage size of one element (strings have none: they are not stored in memory segments).
 */
public enum DType {
    FLOAT(1, 4, "float"),
    UINT8(2, 1, "uint8"),
    INT8(3, 1, "int8"),
    UINT16(4, 2, "uint16"),
    INT16(5, 2, "int16"),
    INT32(6, 4, "int32"),
    INT64(7, 8, "int64"),
    STRING(8, 0, "string"),
    BOOL(9, 1, "bool"),
    FLOAT16(10, 2, "float16"),
    DOUBLE(11, 8, "double"),
    UINT32(12, 4, "uint32"),
    UINT64(13, 8, "uint64"),
    BFLOAT16(16, 2, "bfloat16");

    private final int onnxId;
    private final int byteSize;
    private final String onnxName;

    DType(int onnxId, int byteSize, String onnxName) {
        this.onnxId = onnxId;
        this.byteSize = byteSize;
        this.onnxName = onnxName;
    }

    /** The ONNX {@code TensorProto.DataType} id. */
    public int onnxId() {
        return onnxId;
    }

    /** Bytes per element (0 for {@link #STRING}). */
    public int byteSize() {
        return byteSize;
    }

    /** The lower-case name ONNX uses in type strings ({@code tensor(float)}). */
    public String onnxName() {
        return onnxName;
    }

    /** Whether values are floating point (float, double, float16, bfloat16). */
    public boolean isFloating() {
        return this == FLOAT || this == DOUBLE || this == FLOAT16 || this == BFLOAT16;
    }

    /** Whether values are integers (signed or unsigned; not bool). */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, INT32, INT64, UINT32, UINT64 -> true;
            default -> false;
        };
    }

    /** Whether the integer type is signed. */
    public boolean isSigned() {
        return switch (this) {
            case INT8, INT16, INT32, INT64 -> true;
            default -> isFloating();
        };
    }

    /**
     * The type with this ONNX id.
     *
     * @throws IllegalArgumentException naming the id when Gatun has no such type (complex, float8, int4, ...)
     */
    public static DType fromOnnx(int id) {
        DType t = fromOnnxOrNull(id);
        if (t == null) {
            throw new IllegalArgumentException("unsupported ONNX data type " + id + " (" + onnxTypeName(id) + ")");
        }
        return t;
    }

    /** The type with this ONNX id, or null when Gatun has none. */
    public static DType fromOnnxOrNull(int id) {
        for (DType t : values()) {
            if (t.onnxId == id) {
                return t;
            }
        }
        return null;
    }

    /** ONNX's name for any data type id, including those Gatun does not support. */
    public static String onnxTypeName(int id) {
        return switch (id) {
            case 0 -> "undefined";
            case 14 -> "complex64";
            case 15 -> "complex128";
            case 17 -> "float8e4m3fn";
            case 18 -> "float8e4m3fnuz";
            case 19 -> "float8e5m2";
            case 20 -> "float8e5m2fnuz";
            case 21 -> "uint4";
            case 22 -> "int4";
            case 23 -> "float4e2m1";
            case 24 -> "float8e8m0";
            case 25 -> "uint2";
            case 26 -> "int2";
            default -> {
                DType t = fromOnnxOrNull(id);
                yield t == null ? "unknown" : t.onnxName;
            }
        };
    }

    /** bfloat16 bits to float. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** float to bfloat16 bits, rounding to nearest even (NaN stays NaN). */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    @Override
    public String toString() {
        return onnxName;
    }
}
