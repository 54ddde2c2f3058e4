package dev.gatun.engine.onnx;

import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.onnx.proto.Onnx.SparseTensorProto;
import dev.gatun.engine.onnx.proto.Onnx.StringStringEntryProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Turns {@code TensorProto}s into {@link Tensor}s without copying where the bytes allow it:
 * <ul>
 *   <li>{@code raw_data} parsed from a mapped model file is aliased by protobuf; the tensor is a view of the mapping;</li>
 *   <li>external data ({@code data_location=EXTERNAL}) is mapped read-only from its file, once per file, and sliced;
 *       a location that escapes the model's folder (absolute, {@code ..}, a symlink out) is refused;</li>
 *   <li>typed fields ({@code float_data}, {@code int32_data}, ...) are decoded into the arena (they are not stored
 *       in the element layout, so a copy is unavoidable).</li>
 * </ul>
 * Every size is checked against the declared dims before anything is read, and every error names the tensor.
 */
public final class TensorDecoder {
    private final Arena arena;
    private final Path baseDir;
    private final Map<Path, MemorySegment> mappedFiles = new HashMap<>();
    private final long maxTensorBytes;
    private long budget;

    /**
     * @param arena          owns decoded data and external-data mappings
     * @param baseDir        the model's folder, for external data; null when external data is not allowed
     * @param maxTensorBytes largest tensor (decoded or mapped) in bytes
     * @param maxAllocated   most bytes this decoder may allocate in all (typed fields, densified sparse tensors)
     */
    public TensorDecoder(Arena arena, Path baseDir, long maxTensorBytes, long maxAllocated) {
        this.arena = arena;
        this.baseDir = baseDir;
        this.maxTensorBytes = maxTensorBytes;
        this.budget = maxAllocated;
    }

    /** A decoder with the default per-tensor limit and no total limit. */
    public TensorDecoder(Arena arena, Path baseDir) {
        this(arena, baseDir, dev.gatun.engine.SessionOptions.DEFAULT_MAX_TENSOR_BYTES, Long.MAX_VALUE);
    }

    /** Bytes this decoder may still allocate. */
    public long remainingBytes() {
        return budget;
    }

    /** Refuses a tensor over the per-tensor limit and, when it is to be allocated, over the remaining total; then charges it. */
    private void reserve(long bytes, boolean allocated, DType dtype, Shape shape, String what) {
        if (bytes > maxTensorBytes) {
            throw new EngineException(EngineException.Kind.LIMIT, what + ": " + dtype + shape + " needs " + bytes
                    + " bytes, over the limit of " + maxTensorBytes + " bytes per tensor (LoadOptions.maxTensorBytes)");
        }
        if (allocated) {
            if (bytes > budget) {
                throw new EngineException(EngineException.Kind.LIMIT, what + ": " + dtype + shape + " needs " + bytes
                        + " bytes, over the " + budget + " bytes left of the model's constant memory limit"
                        + " (LoadOptions.maxInitializerBytes)");
            }
            budget -= bytes;
        }
    }

    /** Decodes a tensor; {@code what} names it in errors ("initializer 'w'", "attribute 'value' of node 'n'"). */
    public Tensor decode(TensorProto p, String what) {
        int typeId = p.getDataType();
        DType dtype = DType.fromOnnxOrNull(typeId);
        if (dtype == null) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, what + ": data type " + typeId + " ("
                    + DType.onnxTypeName(typeId) + ") is not supported");
        }
        if (p.hasSegment()) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, what + ": segmented tensors are not supported");
        }
        Shape shape = shapeOf(p, what);
        long n = shape.size();
        if (dtype == DType.STRING) {
            if (p.getStringDataCount() != n) {
                throw bad(what, "has " + p.getStringDataCount() + " strings for shape " + shape);
            }
            String[] s = new String[(int) n];
            for (int i = 0; i < n; i++) {
                s[i] = p.getStringData(i).toString(StandardCharsets.UTF_8);
            }
            return Tensor.ofStrings(shape, s);
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new EngineException(EngineException.Kind.LIMIT, what + ": " + dtype + shape + " has more bytes than fit in memory");
        }
        if (p.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            reserve(bytes, false, dtype, shape, what);
            return Tensor.of(dtype, shape, external(p, bytes, what));
        }
        if (p.hasRawData()) {
            ByteString raw = p.getRawData();
            if (raw.size() != bytes) {
                throw bad(what, "raw_data holds " + raw.size() + " bytes, but " + dtype + shape + " needs " + bytes);
            }
            ByteBuffer bb = raw.asReadOnlyByteBuffer();
            reserve(bytes, !bb.isDirect(), dtype, shape, what);
            return Tensor.of(dtype, shape, view(raw));
        }
        int count = typedCount(p, dtype);
        if (count < 0) {
            throw bad(what, "has no data for type " + dtype);
        }
        if (count != n) {
            throw bad(what, typedField(dtype) + " holds " + count + " values, but its dims need " + n);
        }
        reserve(bytes, true, dtype, shape, what);
        return typed(p, dtype, shape, n, what);
    }

    private static Shape shapeOf(TensorProto p, String what) {
        long[] dims = new long[p.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = p.getDims(i);
            if (dims[i] < 0) {
                throw bad(what, "has negative dimension " + dims[i] + " at axis " + i);
            }
        }
        Shape s = Shape.of(dims);
        try {
            s.size();
        } catch (ArithmeticException e) {
            throw bad(what, "has dims " + s + " whose element count overflows");
        }
        return s;
    }

    /** A read-only view of a ByteString's bytes: zero copy when protobuf aliased the mapped file, else a copy in the arena. */
    private MemorySegment view(ByteString bs) {
        if (bs.isEmpty()) {
            return MemorySegment.NULL;
        }
        ByteBuffer bb = bs.asReadOnlyByteBuffer();
        if (bb.isDirect()) {
            return MemorySegment.ofBuffer(bb);
        }
        MemorySegment seg = arena.allocate(bs.size(), Tensor.ALIGNMENT);
        MemorySegment.copy(MemorySegment.ofBuffer(bb), 0, seg, 0, bs.size());
        return seg;
    }

    /** The number of values in the typed field that holds {@code dtype}'s elements (-1: no such field). */
    private static int typedCount(TensorProto p, DType dtype) {
        return switch (dtype) {
            case FLOAT -> p.getFloatDataCount();
            case DOUBLE -> p.getDoubleDataCount();
            case INT64 -> p.getInt64DataCount();
            case UINT32, UINT64 -> p.getUint64DataCount();
            case INT32, INT16, UINT16, INT8, UINT8, BOOL, FLOAT16, BFLOAT16 -> p.getInt32DataCount();
            default -> -1;
        };
    }

    private static String typedField(DType dtype) {
        return switch (dtype) {
            case FLOAT -> "float_data";
            case DOUBLE -> "double_data";
            case INT64 -> "int64_data";
            case UINT32, UINT64 -> "uint64_data";
            case INT32, INT16, UINT16, INT8, UINT8, BOOL, FLOAT16, BFLOAT16 -> "int32_data";
            default -> "no typed field";
        };
    }

    /** Copies the typed field's values (their count already checked against {@code n}) into a new tensor. */
    private Tensor typed(TensorProto p, DType dtype, Shape shape, long n, String what) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        MemorySegment d = t.data();
        switch (dtype) {
            case FLOAT -> {
                check(p.getFloatDataCount(), n, "float_data", what);
                for (int i = 0; i < n; i++) {
                    d.setAtIndex(Tensor.F32, i, p.getFloatData(i));
                }
            }
            case DOUBLE -> {
                check(p.getDoubleDataCount(), n, "double_data", what);
                for (int i = 0; i < n; i++) {
                    d.setAtIndex(Tensor.F64, i, p.getDoubleData(i));
                }
            }
            case INT64 -> {
                check(p.getInt64DataCount(), n, "int64_data", what);
                for (int i = 0; i < n; i++) {
                    d.setAtIndex(Tensor.I64, i, p.getInt64Data(i));
                }
            }
            case UINT32, UINT64 -> {
                check(p.getUint64DataCount(), n, "uint64_data", what);
                for (int i = 0; i < n; i++) {
                    t.setLong(i, p.getUint64Data(i));
                }
            }
            case INT32, INT16, UINT16, INT8, UINT8, BOOL, FLOAT16, BFLOAT16 -> {
                check(p.getInt32DataCount(), n, "int32_data", what);
                for (int i = 0; i < n; i++) {
                    int v = p.getInt32Data(i);
                    switch (dtype.byteSize()) {
                        case 4 -> d.setAtIndex(Tensor.I32, i, v);
                        case 2 -> d.setAtIndex(Tensor.I16, i, (short) v);
                        default -> d.set(Tensor.I8, i, (byte) v);
                    }
                }
            }
            default -> throw bad(what, "has no data for type " + dtype);
        }
        return t;
    }

    private static void check(int count, long n, String field, String what) {
        if (count != n) {
            throw bad(what, field + " holds " + count + " values, but its dims need " + n);
        }
    }

    private MemorySegment external(TensorProto p, long bytes, String what) {
        if (baseDir == null) {
            throw bad(what, "uses external data, which is not allowed here (no model folder)");
        }
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto e : p.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = parseLong(e.getValue(), "offset", what);
                case "length" -> length = parseLong(e.getValue(), "length", what);
                default -> { }
            }
        }
        if (location == null || location.isEmpty()) {
            throw bad(what, "external data has no location");
        }
        if (length >= 0 && length != bytes) {
            throw bad(what, "external data length " + length + " does not match the " + bytes + " bytes its dims need");
        }
        MemorySegment file = mapConfined(location, what);
        if (offset < 0 || offset > file.byteSize() || bytes > file.byteSize() - offset) {
            throw bad(what, "external data at offset " + offset + " + " + bytes + " bytes lies beyond the end of '"
                    + location + "' (" + file.byteSize() + " bytes)");
        }
        return file.asSlice(offset, bytes);
    }

    private static long parseLong(String v, String key, String what) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw bad(what, "external data " + key + " '" + v + "' is not a number");
        }
    }

    /** Maps {@code location} if it resolves inside the model folder (after following symlinks). */
    private MemorySegment mapConfined(String location, String what) {
        Path rel;
        try {
            rel = Path.of(location);
        } catch (RuntimeException e) {
            throw bad(what, "external data location '" + location + "' is not a valid path");
        }
        if (rel.isAbsolute() || location.startsWith("/") || location.startsWith("\\")) {
            throw bad(what, "external data location '" + location + "' is absolute; it must be relative to the model's folder");
        }
        Path dir;
        Path real;
        try {
            dir = baseDir.toRealPath();
            Path target = dir.resolve(rel).normalize();
            if (!target.startsWith(dir)) {
                throw bad(what, "external data location '" + location + "' escapes the model's folder");
            }
            real = target.toRealPath();
        } catch (NoSuchFileException e) {
            throw bad(what, "external data file '" + location + "' does not exist");
        } catch (IOException e) {
            throw bad(what, "external data file '" + location + "' cannot be read: " + e.getMessage());
        }
        if (!real.startsWith(dir)) {
            throw bad(what, "external data location '" + location + "' resolves (through a symlink) outside the model's folder");
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
            throw bad(what, "external data location '" + location + "' is not a regular file");
        }
        MemorySegment seg = mappedFiles.get(real);
        if (seg == null) {
            try (FileChannel ch = FileChannel.open(real, StandardOpenOption.READ)) {
                seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                NativeMemory.mapped(arena, seg.byteSize());
            } catch (IOException e) {
                throw bad(what, "external data file '" + location + "' cannot be mapped: " + e.getMessage());
            }
            mappedFiles.put(real, seg);
        }
        return seg;
    }

    /**
     * Densifies a sparse tensor (COO, per the ONNX spec): {@code values} [NNZ], {@code indices} either [NNZ] linear
     * (row-major) indices or [NNZ, rank] coordinates, {@code dims} the dense shape. The indices must be in ascending
     * (lexicographic) order without duplicates, as the spec requires. The spec says INT64; INT32, INT16 and INT8
     * indices are read too, as ONNX Runtime reads them (they shrink files with small tensors).
     */
    public Tensor decodeSparse(SparseTensorProto sp, String what) {
        if (!sp.hasValues()) {
            throw bad(what, "has no values tensor");
        }
        Tensor values = decode(sp.getValues(), what + " values");
        long[] dims = new long[sp.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = sp.getDims(i);
            if (dims[i] < 0) {
                throw bad(what, "has negative dimension " + dims[i]);
            }
        }
        Shape shape = Shape.of(dims);
        long total;
        try {
            total = shape.size();
        } catch (ArithmeticException e) {
            throw bad(what, "has dims " + shape + " whose element count overflows");
        }
        if (values.dtype() == DType.STRING) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, what + ": sparse string tensors are not supported");
        }
        if (values.shape().rank() != 1) {
            throw bad(what, "values must be 1-D, got " + values.shape());
        }
        long nnz = values.size();
        if (nnz > total) {
            throw bad(what, "has " + nnz + " values, more than the " + total + " elements of its dims " + shape);
        }
        long denseBytes;
        try {
            denseBytes = Math.multiplyExact(total, (long) values.dtype().byteSize());
        } catch (ArithmeticException e) {
            throw new EngineException(EngineException.Kind.LIMIT, what + ": " + values.dtype() + shape + " has more bytes than fit in memory");
        }
        reserve(denseBytes, true, values.dtype(), shape, what);
        Tensor dense = Tensor.allocate(arena, values.dtype(), shape);
        dense.data().fill((byte) 0);
        if (!sp.hasIndices()) {
            if (nnz == 0) {
                return dense;
            }
            throw bad(what, "has " + nnz + " values but no indices tensor");
        }
        Tensor indices = decode(sp.getIndices(), what + " indices");
        DType it = indices.dtype();
        if (it != DType.INT64 && it != DType.INT32 && it != DType.INT16 && it != DType.INT8) {
            throw bad(what, "indices must be int64 (or int32, int16, int8), got " + it);
        }
        Shape is = indices.shape();
        boolean linear = is.rank() == 1;
        if (!(linear && is.dim(0) == nnz) && !(is.rank() == 2 && is.dim(0) == nnz && is.dim(1) == dims.length)) {
            throw bad(what, "indices shape " + is + " does not match " + nnz + " values of a rank-" + dims.length
                    + " tensor (want [" + nnz + "] linear or [" + nnz + ", " + dims.length + "] coordinates)");
        }
        long[] strides = shape.strides();
        int esz = values.dtype().byteSize();
        MemorySegment src = values.data();
        MemorySegment dst = dense.data();
        long prev = -1;
        for (long k = 0; k < nnz; k++) {
            long flat = 0;
            if (linear) {
                flat = indices.getAsLong(k);
                if (flat < 0 || flat >= total) {
                    throw bad(what, "index " + flat + " (value " + k + ") is out of range [0, " + total + ") for dims " + shape);
                }
            } else {
                for (int a = 0; a < dims.length; a++) {
                    long ix = indices.getAsLong(k * dims.length + a);
                    if (ix < 0 || ix >= dims[a]) {
                        throw bad(what, "index " + ix + " on axis " + a + " (value " + k + ") is out of range [0, " + dims[a] + ")");
                    }
                    flat += ix * strides[a];
                }
            }
            if (flat <= prev) {
                throw bad(what, "indices must be in ascending order without duplicates (per the ONNX spec), but value " + k
                        + " is at flat index " + flat + (flat == prev ? ", a duplicate" : ", after " + prev));
            }
            prev = flat;
            switch (esz) {
                case 4 -> dst.setAtIndex(Tensor.I32, flat, src.getAtIndex(Tensor.I32, k));
                case 8 -> dst.setAtIndex(Tensor.I64, flat, src.getAtIndex(Tensor.I64, k));
                case 2 -> dst.setAtIndex(Tensor.I16, flat, src.getAtIndex(Tensor.I16, k));
                default -> MemorySegment.copy(src, k * esz, dst, flat * esz, esz);
            }
        }
        return dense;
    }

    private static EngineException bad(String what, String msg) {
        return new EngineException(EngineException.Kind.MODEL_LOAD, what + ": " + msg);
    }
}
