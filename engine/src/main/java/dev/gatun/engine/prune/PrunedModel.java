package dev.gatun.engine.prune;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * A pruned model held in memory: the ONNX {@code ModelProto} with the pruned weights as {@code sparse_initializer}s,
 * and the {@link PruneReport}. {@link #write} saves it as an .onnx file; {@link #load} runs it without one.
 */
public final class PrunedModel {
    private final String name;
    private final ModelProto proto;
    private final PruneReport report;
    private final long originalBytes;

    PrunedModel(String name, ModelProto proto, PruneReport report, long originalBytes) {
        this.name = name;
        this.proto = proto;
        this.report = report;
        this.originalBytes = originalBytes;
    }

    public PruneReport report() {
        return report;
    }

    /** The pruned model as ONNX. */
    public ModelProto proto() {
        return proto;
    }

    /** The size of the model that was pruned, in bytes (its file, or the bytes given). */
    public long originalBytes() {
        return originalBytes;
    }

    /** The size of the pruned model's file, in bytes. */
    public long serializedBytes() {
        return checkedSize();
    }

    private long checkedSize() {
        int n = proto.getSerializedSize();
        if (n < 0) {
            throw new EngineException(EngineException.Kind.LIMIT, name + ": the pruned model is over protobuf's 2 GiB limit");
        }
        return n;
    }

    /** The pruned model serialized. */
    public byte[] toByteArray() {
        checkedSize();
        return proto.toByteArray();
    }

    /** Writes the pruned model to {@code out} (through a temporary file in the same folder, then renamed into place). */
    public void write(Path out) throws IOException {
        checkedSize();
        Path abs = out.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        // Not createTempFile: its owner-only permissions would stay with the model; this one gets the umask's.
        Path tmp = dir.resolve(abs.getFileName() + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".part");
        try {
            try (OutputStream os = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                proto.writeTo(os);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Loads the pruned model into Gatun (from memory; the sparse weights are densified as from a file). */
    public Model load() {
        return Model.load(toByteArray(), name);
    }
}
