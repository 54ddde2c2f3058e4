package dev.gatun.engine.io;

import com.google.protobuf.ByteString;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Tensor files by extension: {@code .npy} (NumPy, see {@link Npy}) and {@code .pb} (a serialized ONNX
 * {@code TensorProto}, the format of the ONNX backend tests' {@code input_N.pb}). Every error is an
 * {@link EngineException} of kind {@code INVALID_INPUT} naming the file.
 */
public final class TensorFiles {
    private TensorFiles() {}

    /** Reads a tensor file into {@code arena}, choosing the format by the file's extension. */
    public static Tensor read(Path path, Arena arena) {
        String ext = extension(path);
        if (!ext.equals("npy") && !ext.equals("pb")) {
            throw unknownExtension(path);
        }
        if (!Files.exists(path)) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": no such file");
        }
        if (Files.isDirectory(path)) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": is a directory, not a tensor file");
        }
        return ext.equals("npy") ? Npy.read(path, arena) : OnnxLoader.readTensorFile(path, arena);
    }

    /** Writes {@code t} to {@code path} in the format its extension names ({@code .npy} or {@code .pb}). */
    public static void write(Path path, Tensor t) {
        switch (extension(path)) {
            case "npy" -> Npy.write(path, t);
            case "pb" -> writeProto(path, t);
            default -> throw unknownExtension(path);
        }
    }

    /** A {@code TensorProto} with dims, data type and the elements as little-endian {@code raw_data}. */
    public static TensorProto toProto(String name, Tensor t) {
        TensorProto.Builder p = TensorProto.newBuilder().setName(name).setDataType(t.dtype().onnxId());
        for (long d : t.shape().dims()) {
            p.addDims(d);
        }
        if (t.dtype() == DType.STRING) {
            for (String s : t.strings()) {
                p.addStringData(ByteString.copyFrom(s, StandardCharsets.UTF_8));
            }
        } else {
            p.setRawData(ByteString.copyFrom(t.data().toArray(ValueLayout.JAVA_BYTE)));
        }
        return p.build();
    }

    private static void writeProto(Path path, Tensor t) {
        String name = path.getFileName().toString();
        try {
            Files.write(path, toProto(name.substring(0, name.length() - 3), t).toByteArray());
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, path + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static String extension(Path path) {
        Path f = path.getFileName();
        String name = f == null ? "" : f.toString();
        int dot = name.lastIndexOf('.');
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    private static EngineException unknownExtension(Path path) {
        return new EngineException(EngineException.Kind.INVALID_INPUT, path
                + ": unknown tensor file type; use .npy (NumPy) or .pb (ONNX TensorProto)");
    }
}
