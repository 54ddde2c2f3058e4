package dev.gatun.engine;

/**
 * Limits a model load enforces, each checked before the memory it guards is allocated, so that a hostile or broken
 * file is refused with a {@link EngineException.Kind#LIMIT} error naming the limit instead of exhausting the machine.
 *
 * @param maxTensorBytes      largest single constant (initializer, {@code Constant}, folded value) in bytes
 * @param maxInitializerBytes total bytes the loader allocates for constants: initializers stored in typed fields
 *                            ({@code float_data}, ...), densified sparse initializers, and values computed by constant
 *                            folding. Weights in {@code raw_data} or external data are mapped from their files, not
 *                            allocated, and are bounded by the files' sizes instead
 * @param maxNodes            most nodes in the model (main graph, sub-graphs and functions together); initializers,
 *                            and declared values (inputs, outputs, value_info), may number up to
 *                            {@code 2 * maxNodes + 1024} each. Checked on the raw protobuf bytes before any node is built
 * @param maxNestingDepth     deepest nesting of sub-graphs (If/Loop/Scan bodies inside bodies); the main graph is
 *                            depth 0. Also bounds protobuf message nesting (type protos, attributes) to
 *                            {@code 3 * maxNestingDepth + 16} levels, so parsing cannot overflow the stack (at most 100)
 */
public record LoadOptions(long maxTensorBytes, long maxInitializerBytes, int maxNodes, int maxNestingDepth) {
    /** 8 GiB of allocated constants. */
    public static final long DEFAULT_MAX_INITIALIZER_BYTES = 8L << 30;
    /** One million nodes: ten times the largest exported transformer graphs. */
    public static final int DEFAULT_MAX_NODES = 1_000_000;
    /** 16 levels of sub-graphs. */
    public static final int DEFAULT_MAX_NESTING_DEPTH = 16;

    public LoadOptions {
        if (maxTensorBytes < 1) {
            throw new IllegalArgumentException("maxTensorBytes must be >= 1, got " + maxTensorBytes);
        }
        if (maxInitializerBytes < 0) {
            throw new IllegalArgumentException("maxInitializerBytes must be >= 0, got " + maxInitializerBytes);
        }
        if (maxNodes < 0) {
            throw new IllegalArgumentException("maxNodes must be >= 0, got " + maxNodes);
        }
        if (maxNestingDepth < 0 || maxNestingDepth > 100) {
            throw new IllegalArgumentException("maxNestingDepth must be in [0, 100], got " + maxNestingDepth);
        }
    }

    /** The defaults: 4 GiB per tensor, 8 GiB of allocated constants, 1,000,000 nodes, 16 levels of sub-graphs. */
    public static LoadOptions defaults() {
        return new LoadOptions(SessionOptions.DEFAULT_MAX_TENSOR_BYTES, DEFAULT_MAX_INITIALIZER_BYTES, DEFAULT_MAX_NODES,
                DEFAULT_MAX_NESTING_DEPTH);
    }

    public LoadOptions withMaxTensorBytes(long maxTensorBytes) {
        return new LoadOptions(maxTensorBytes, maxInitializerBytes, maxNodes, maxNestingDepth);
    }

    public LoadOptions withMaxInitializerBytes(long maxInitializerBytes) {
        return new LoadOptions(maxTensorBytes, maxInitializerBytes, maxNodes, maxNestingDepth);
    }

    public LoadOptions withMaxNodes(int maxNodes) {
        return new LoadOptions(maxTensorBytes, maxInitializerBytes, maxNodes, maxNestingDepth);
    }

    public LoadOptions withMaxNestingDepth(int maxNestingDepth) {
        return new LoadOptions(maxTensorBytes, maxInitializerBytes, maxNodes, maxNestingDepth);
    }

    /** Protobuf's message nesting limit for these options. */
    public int protobufRecursionLimit() {
        return 3 * maxNestingDepth + 16;
    }
}
