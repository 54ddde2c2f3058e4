package dev.gatun.engine.io;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0), as specified in
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html:
 * <pre>
 *   "\x93NUMPY" major minor  header_len (uint16 LE for v1, uint32 LE for v2/v3)  header  data
 * </pre>
 * where the header is a Python dict literal {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}
 * padded with spaces and a newline so the data starts at a multiple of 64 bytes.
 *
 * <p>Supported element types: little-endian {@code <f4 <f8 <f2 <i2 <i4 <i8 <u2 <u4 <u8} and the one-byte
 * {@code |i1 |u1 |b1}, in C (row-major) order. Fortran order, big-endian data, object arrays (pickles),
 * strings and structured types are refused with a message saying so. Every error is an
 * {@link EngineException} of kind {@code INVALID_INPUT} naming the file.
 *
 * <p>Writing uses format 1.0 (2.0 when the header would not fit). bfloat16 has no NumPy type: it is written
 * as {@code <f4} (exact); string tensors are refused.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*('([^']*)'|\"([^\"]*)\"|\\[)");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /** Reads {@code path} into a new tensor in {@code arena} (64-byte aligned, row-major). */
    public static Tensor read(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer pre = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, pre, 0);
            if (pre.position() < 10 || !startsWithMagic(pre.array())) {
                throw bad(path, "not a NumPy .npy file (no \\x93NUMPY magic at the start)");
            }
            int major = pre.get(6) & 0xff;
            int minor = pre.get(7) & 0xff;
            long headerLen;
            long headerStart;
            if (major == 1) {
                headerLen = pre.getShort(8) & 0xffff;
                headerStart = 10;
            } else if (major == 2 || major == 3) {
                ByteBuffer l = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, l, 8);
                if (l.position() < 4) {
                    throw bad(path, "truncated .npy header");
                }
                headerLen = l.getInt(0) & 0xffffffffL;
                headerStart = 12;
            } else {
                throw bad(path, ".npy format version " + major + "." + minor + " is not supported (1.0, 2.0 and 3.0 are)");
            }
            if (headerStart + headerLen > size) {
                throw bad(path, "truncated .npy header: it declares " + headerLen + " bytes, the file has " + size);
            }
            ByteBuffer hb = ByteBuffer.allocate(Math.toIntExact(headerLen));
            readFully(ch, hb, headerStart);
            String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Header h = parseHeader(header, path);
            long dataStart = headerStart + headerLen;
            long bytes;
            try {
                bytes = Math.multiplyExact(h.shape.size(), (long) h.dtype.byteSize());
            } catch (ArithmeticException e) {
                throw bad(path, "shape " + h.shape + " is too large");
            }
            if (size - dataStart < bytes) {
                throw bad(path, "truncated: " + h.dtype + h.shape + " needs " + bytes + " bytes of data, the file has "
                        + (size - dataStart));
            }
            Tensor t = Tensor.allocate(arena, h.dtype, h.shape);
            MemorySegment seg = t.data();
            for (long off = 0; off < bytes; ) {
                long chunk = Math.min(bytes - off, 1L << 30);
                ByteBuffer dst = seg.asSlice(off, chunk).asByteBuffer();
                readFully(ch, dst, dataStart + off);
                if (dst.hasRemaining()) {
                    throw bad(path, "truncated while reading data");
                }
                off += chunk;
            }
            return t;
        } catch (NoSuchFileException e) {
            throw bad(path, "no such file");
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": cannot read: " + e.getMessage(), e);
        }
    }

    private record Header(DType dtype, Shape shape) {}

    private static Header parseHeader(String header, Path path) {
        String h = header.strip();
        if (!h.startsWith("{") || !h.endsWith("}")) {
            throw bad(path, "malformed .npy header: " + abbreviate(h));
        }
        Matcher d = DESCR.matcher(h);
        if (!d.find()) {
            throw bad(path, "malformed .npy header (no 'descr'): " + abbreviate(h));
        }
        if (d.group(1).equals("[")) {
            throw bad(path, "structured (record) arrays are not supported; save a plain numeric array");
        }
        String descr = d.group(2) != null ? d.group(2) : d.group(3);
        Matcher f = FORTRAN.matcher(h);
        if (!f.find()) {
            throw bad(path, "malformed .npy header (no 'fortran_order'): " + abbreviate(h));
        }
        if (f.group(1).equals("True")) {
            throw bad(path, "Fortran-order (column-major) arrays are not supported; save with np.save(f, np.ascontiguousarray(a))");
        }
        Matcher s = SHAPE.matcher(h);
        if (!s.find()) {
            throw bad(path, "malformed .npy header (no 'shape'): " + abbreviate(h));
        }
        return new Header(dtypeOf(descr, path), shapeOf(s.group(1), path));
    }

    private static DType dtypeOf(String descr, Path path) {
        if (descr.length() < 2) {
            throw bad(path, "unknown dtype '" + descr + "'");
        }
        char order = descr.charAt(0);
        String code = descr.substring(1);
        if (code.startsWith("O")) {
            throw bad(path, "object arrays ('" + descr + "', pickled Python objects) are not supported");
        }
        DType t = switch (code) {
            case "f4" -> DType.FLOAT;
            case "f8" -> DType.DOUBLE;
            case "f2" -> DType.FLOAT16;
            case "i1" -> DType.INT8;
            case "i2" -> DType.INT16;
            case "i4" -> DType.INT32;
            case "i8" -> DType.INT64;
            case "u1" -> DType.UINT8;
            case "u2" -> DType.UINT16;
            case "u4" -> DType.UINT32;
            case "u8" -> DType.UINT64;
            case "b1" -> DType.BOOL;
            default -> null;
        };
        if (t == null) {
            throw bad(path, "dtype '" + descr + "' is not supported (float16/32/64, int8..64, uint8..64 and bool are)");
        }
        boolean littleOk = order == '<' || (order == '=' && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN);
        if (t.byteSize() > 1 && !littleOk) {
            throw bad(path, "dtype '" + descr + "' is big-endian; only little-endian data is supported (use a.astype('<"
                    + code + "'))");
        }
        if (t.byteSize() == 1 && order != '|' && order != '<' && order != '>' && order != '=') {
            throw bad(path, "unknown dtype '" + descr + "'");
        }
        return t;
    }

    private static Shape shapeOf(String tuple, Path path) {
        List<Long> dims = new ArrayList<>();
        for (String part : tuple.split(",")) {
            String p = part.strip();
            if (p.endsWith("L")) {
                p = p.substring(0, p.length() - 1);
            }
            if (p.isEmpty()) {
                continue;
            }
            try {
                long v = Long.parseLong(p);
                if (v < 0) {
                    throw bad(path, "negative dimension in shape (" + tuple + ")");
                }
                dims.add(v);
            } catch (NumberFormatException e) {
                throw bad(path, "malformed shape (" + tuple + ")");
            }
        }
        return Shape.of(dims.stream().mapToLong(Long::longValue).toArray());
    }

    /**
     * Writes {@code t} to {@code path} as a C-order little-endian .npy file (bfloat16 as {@code <f4}).
     *
     * @throws EngineException INVALID_INPUT for string tensors or when the file cannot be written
     */
    public static void write(Path path, Tensor t) {
        if (t.dtype() == DType.STRING) {
            throw bad(path, "string tensors cannot be written as .npy");
        }
        Tensor data = t;
        if (t.dtype() == DType.BFLOAT16) {
            data = Tensor.of(DType.FLOAT, t.shape(), MemorySegment.ofArray(t.toFloatArray()));
        }
        byte[] header = header(descr(data.dtype()), data.shape());
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.wrap(header));
            MemorySegment seg = data.data();
            long bytes = data.byteSize();
            for (long off = 0; off < bytes; ) {
                long chunk = Math.min(bytes - off, 1L << 30);
                MemorySegment slice = seg.asSlice(off, chunk);
                ByteBuffer b = slice.isNative() || slice.isMapped()
                        ? slice.asByteBuffer() : ByteBuffer.wrap(slice.toArray(ValueLayout.JAVA_BYTE));
                writeFully(ch, b);
                off += chunk;
            }
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static String descr(DType t) {
        return switch (t) {
            case FLOAT -> "<f4";
            case DOUBLE -> "<f8";
            case FLOAT16 -> "<f2";
            case INT8 -> "|i1";
            case INT16 -> "<i2";
            case INT32 -> "<i4";
            case INT64 -> "<i8";
            case UINT8 -> "|u1";
            case UINT16 -> "<u2";
            case UINT32 -> "<u4";
            case UINT64 -> "<u8";
            case BOOL -> "|b1";
            default -> throw new IllegalArgumentException("no .npy type for " + t);
        };
    }

    /** The magic, version, length and padded header for a C-order array; version 1.0 unless it needs 2.0. */
    static byte[] header(String descr, Shape shape) {
        StringBuilder sh = new StringBuilder("(");
        for (int i = 0; i < shape.rank(); i++) {
            sh.append(i > 0 ? ", " : "").append(shape.dim(i));
        }
        sh.append(shape.rank() == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
        int pre = 10;
        int total = pre + dict.length() + 1;
        int padded = (total + ALIGN - 1) / ALIGN * ALIGN;
        int major = 1;
        if (padded - pre > 0xffff) {
            pre = 12;
            total = pre + dict.length() + 1;
            padded = (total + ALIGN - 1) / ALIGN * ALIGN;
            major = 2;
        }
        int headerLen = padded - pre;
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) {
            b.putShort((short) headerLen);
        } else {
            b.putInt(headerLen);
        }
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (b.position() < padded - 1) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n');
        return b.array();
    }

    private static boolean startsWithMagic(byte[] b) {
        for (int i = 0; i < MAGIC.length; i++) {
            if (b[i] != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long pos) throws IOException {
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos);
            if (n < 0) {
                return;
            }
            pos += n;
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) {
            ch.write(src);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }

    private static EngineException bad(Path path, String msg) {
        return new EngineException(EngineException.Kind.INVALID_INPUT, path + ": " + msg);
    }
}
