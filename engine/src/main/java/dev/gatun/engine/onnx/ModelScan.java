package dev.gatun.engine.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.LoadOptions;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A pass over a {@code ModelProto}'s wire bytes, before protobuf builds any message object, that counts what would
 * be built and refuses a model over the {@link LoadOptions} limits: nodes (main graph, sub-graphs in attributes,
 * functions), initializers and declared values, and sub-graph nesting depth. A 10 MB file holding five million
 * empty nodes would otherwise become five million heap objects before any check could run.
 *
 * <p>Only the fields that hold graphs and nodes are descended into (field numbers from onnx.proto):
 * ModelProto.graph (7), functions (25), training_info (20: initialization 1, algorithm 2); GraphProto.node (1),
 * initializer (5), sparse_initializer (15), input (11), output (12), value_info (13); FunctionProto.node (7);
 * NodeProto.attribute (5); AttributeProto.g (6), graphs (11). Everything else is skipped by length, so the pass
 * costs a fraction of the parse. Malformed wire data is left for the real parse to report.
 */
final class ModelScan {
    private final LoadOptions limits;
    private final String file;
    private long nodes;
    private long initializers;
    private long values;

    private ModelScan(LoadOptions limits, String file) {
        this.limits = limits;
        this.file = file;
    }

    /** Checks {@code buf} (a serialized ModelProto) against {@code limits}. */
    static void check(ByteBuffer buf, LoadOptions limits, String file) {
        ModelScan s = new ModelScan(limits, file);
        try {
            CodedInputStream in = CodedInputStream.newInstance(buf.duplicate());
            in.setSizeLimit(Integer.MAX_VALUE);
            s.model(in);
        } catch (IOException | RuntimeException e) {
            if (e instanceof EngineException ee) {
                throw ee;
            }
            // Malformed wire data: the protobuf parse that follows reports it with its own message.
        }
    }

    private void model(CodedInputStream in) throws IOException {
        int tag;
        while ((tag = in.readTag()) != 0) {
            switch (field(tag)) {
                case 7 -> nested(in, tag, () -> graph(in, 0));
                case 25 -> nested(in, tag, () -> function(in));
                case 20 -> nested(in, tag, () -> training(in));
                default -> in.skipField(tag);
            }
        }
    }

    private void training(CodedInputStream in) throws IOException {
        int tag;
        while ((tag = in.readTag()) != 0) {
            switch (field(tag)) {
                case 1, 2 -> nested(in, tag, () -> graph(in, 0));
                default -> in.skipField(tag);
            }
        }
    }

    private void function(CodedInputStream in) throws IOException {
        int tag;
        while ((tag = in.readTag()) != 0) {
            if (field(tag) == 7) {
                nested(in, tag, () -> node(in, 0));
            } else {
                in.skipField(tag);
            }
        }
    }

    private void graph(CodedInputStream in, int depth) throws IOException {
        if (depth > limits.maxNestingDepth()) {
            throw new EngineException(EngineException.Kind.LIMIT, file + ": sub-graphs are nested more than "
                    + limits.maxNestingDepth() + " levels deep (the limit; LoadOptions.maxNestingDepth)");
        }
        int tag;
        while ((tag = in.readTag()) != 0) {
            switch (field(tag)) {
                case 1 -> nested(in, tag, () -> node(in, depth));
                case 5, 15 -> {
                    count("initializers", ++initializers, others());
                    in.skipField(tag);
                }
                case 11, 12, 13 -> {
                    count("declared values (inputs, outputs, value_info)", ++values, others());
                    in.skipField(tag);
                }
                default -> in.skipField(tag);
            }
        }
    }

    private void node(CodedInputStream in, int depth) throws IOException {
        count("nodes", ++nodes, limits.maxNodes());
        int tag;
        while ((tag = in.readTag()) != 0) {
            if (field(tag) == 5) {
                nested(in, tag, () -> attribute(in, depth));
            } else {
                in.skipField(tag);
            }
        }
    }

    private void attribute(CodedInputStream in, int depth) throws IOException {
        int tag;
        while ((tag = in.readTag()) != 0) {
            switch (field(tag)) {
                case 6, 11 -> nested(in, tag, () -> graph(in, depth + 1));
                default -> in.skipField(tag);
            }
        }
    }

    /** The bound on initializers, and on declared values: twice the node limit, plus 1024. */
    private long others() {
        return 2L * limits.maxNodes() + 1024;
    }

    private void count(String what, long n, long max) {
        if (n > max) {
            throw new EngineException(EngineException.Kind.LIMIT, file + ": the model has more than " + max
                    + " " + what + " (the limit; from LoadOptions.maxNodes)");
        }
    }

    private interface Body {
        void read() throws IOException;
    }

    /** Reads a length-delimited sub-message with {@code body}; any other wire type is skipped. */
    private static void nested(CodedInputStream in, int tag, Body body) throws IOException {
        if (WireFormat.getTagWireType(tag) != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
            in.skipField(tag);
            return;
        }
        int len = in.readRawVarint32();
        if (len < 0) {
            throw new IOException("negative length");
        }
        int old = in.pushLimit(len);
        body.read();
        in.popLimit(old);
    }

    private static int field(int tag) {
        return WireFormat.getTagFieldNumber(tag);
    }
}
