package dev.gatun.server.pipeline;

import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Sentence embeddings from a BERT-style encoder (all-MiniLM-L6-v2 and kin), type {@value #TYPE}.
 *
 * <p>Encode: the texts (request field {@code "text"}) are tokenized by a {@link WordPieceTokenizer}, truncated to
 * {@code max_length} tokens and padded to the longest in the batch, giving {@code input_ids},
 * {@code attention_mask} and {@code token_type_ids}, each {@code [B, S]} int64 (or int32 when the model declares
 * int32); after {@link #bind} only the inputs the model declares are made.
 *
 * <p>Decode: the token states {@code h [B, S, H]} (the configured output, else the first output of rank 3) are
 * pooled to {@code e [B, H]}: {@code mean} (default) is {@code e[b] = sum_s m[b,s] h[b,s] / max(sum_s m[b,s], 1e-9)}
 * with {@code m} the attention mask; {@code cls} takes {@code h[b, 0]}; {@code none} reads an already pooled
 * {@code [B, H]} output (the configured one, else the first of rank 2). With {@code normalize} (default) each row is
 * divided by {@code max(|e[b]|_2, 1e-12)}. The response output is {@code "embedding"}: float {@code [B, H]}.
 *
 * <p>Options (the {@code "pipeline"} object of {@code config.json}): {@code tokenizer} (path, relative to the
 * model's folder, default {@code tokenizer.json}), {@code max_length} (default 256, tokens per text including
 * {@code [CLS]}/{@code [SEP]}), {@code pooling} ({@code mean|cls|none}), {@code normalize} (default true),
 * {@code output} (model output name).
 */
public final class TextEmbeddingPipeline implements Pipeline {
    /** The type name in a model's configuration. */
    public static final String TYPE = "text-embedding";
    /** Default tokens per text (sentence-transformers' max_seq_length for MiniLM; the model allows 512). */
    public static final int DEFAULT_MAX_LENGTH = 256;
    /** The response output. */
    public static final String OUTPUT = "embedding";

    static final String INPUT_IDS = "input_ids";
    static final String ATTENTION_MASK = "attention_mask";
    static final String TOKEN_TYPE_IDS = "token_type_ids";
    private static final Set<String> KNOWN_INPUTS = Set.of(INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS);

    /** How token states become one vector per text. */
    public enum Pooling {
        /** Mean over the tokens the attention mask keeps. */
        MEAN,
        /** The first token's state. */
        CLS,
        /** The model already outputs {@code [B, H]}. */
        NONE
    }

    private final WordPieceTokenizer tokenizer;
    private final int maxLength;
    private final Pooling pooling;
    private final boolean normalize;
    private final String outputName;
    /** The inputs to make with their dtype, in the model's order; all three (int64) before {@link #bind}. */
    private final Map<String, DType> inputs;

    /**
     * @param maxLength  tokens per text, special tokens included (truncation beyond)
     * @param outputName the model output to pool, or null for the first of the right rank
     */
    public TextEmbeddingPipeline(WordPieceTokenizer tokenizer, int maxLength, Pooling pooling, boolean normalize, String outputName) {
        this(tokenizer, maxLength, pooling, normalize, outputName, defaultInputs());
    }

    private TextEmbeddingPipeline(WordPieceTokenizer tokenizer, int maxLength, Pooling pooling, boolean normalize, String outputName,
                                  Map<String, DType> inputs) {
        if (maxLength <= tokenizer.specialTokenCount()) {
            throw new IllegalArgumentException(TYPE + " pipeline: max_length " + maxLength + " leaves no room next to the "
                    + tokenizer.specialTokenCount() + " special tokens");
        }
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.pooling = pooling;
        this.normalize = normalize;
        this.outputName = outputName;
        this.inputs = inputs;
    }

    /** Mean pooling, normalized, the first rank-3 output. */
    public TextEmbeddingPipeline(WordPieceTokenizer tokenizer, int maxLength) {
        this(tokenizer, maxLength, Pooling.MEAN, true, null);
    }

    private static Map<String, DType> defaultInputs() {
        Map<String, DType> m = new LinkedHashMap<>();
        m.put(INPUT_IDS, DType.INT64);
        m.put(ATTENTION_MASK, DType.INT64);
        m.put(TOKEN_TYPE_IDS, DType.INT64);
        return m;
    }

    /**
     * The pipeline a model's configuration describes.
     *
     * @param modelDir the model's folder, against which a relative {@code tokenizer} path resolves
     * @throws IllegalArgumentException for an unknown or malformed option, or an unusable tokenizer file
     */
    public static TextEmbeddingPipeline fromConfig(Path modelDir, Map<String, Object> options) {
        PipelineOptions o = new PipelineOptions(TYPE, options, Set.of("tokenizer", "max_length", "pooling", "normalize", "output"));
        Path file = o.getPath("tokenizer", modelDir, "tokenizer.json");
        int maxLength = o.getInt("max_length", DEFAULT_MAX_LENGTH, 3, 1 << 16);
        String p = o.getString("pooling", "mean");
        Pooling pooling = switch (p) {
            case "mean" -> Pooling.MEAN;
            case "cls" -> Pooling.CLS;
            case "none" -> Pooling.NONE;
            default -> throw new IllegalArgumentException(TYPE + " pipeline: option 'pooling' must be mean, cls or none, got " + p);
        };
        return new TextEmbeddingPipeline(WordPieceTokenizer.load(file), maxLength, pooling, o.getBoolean("normalize", true),
                o.getString("output", null));
    }

    public WordPieceTokenizer tokenizer() {
        return tokenizer;
    }

    public int maxLength() {
        return maxLength;
    }

    @Override
    public String rawInputName() {
        return "text";
    }

    @Override
    public Class<?> itemType() {
        return String.class;
    }

    /**
     * Makes exactly the inputs the model declares among {@code input_ids} (required), {@code attention_mask} and
     * {@code token_type_ids}, as int64 or int32, and checks the output to pool exists with a fitting rank.
     */
    @Override
    public Pipeline bind(List<TensorInfo> modelInputs, List<TensorInfo> modelOutputs) {
        Map<String, DType> made = new LinkedHashMap<>();
        for (TensorInfo in : modelInputs) {
            if (!KNOWN_INPUTS.contains(in.name())) {
                throw new IllegalArgumentException(TYPE + " pipeline: the model input '" + in.name() + "' is none of "
                        + INPUT_IDS + ", " + ATTENTION_MASK + ", " + TOKEN_TYPE_IDS);
            }
            if (in.dtype() != DType.INT64 && in.dtype() != DType.INT32) {
                throw new IllegalArgumentException(TYPE + " pipeline: the model input '" + in.name() + "' is " + in.dtype()
                        + ", the pipeline makes int64 or int32");
            }
            if (in.shape() != null && in.shape().rank() != 2) {
                throw new IllegalArgumentException(TYPE + " pipeline: the model input '" + in.name() + "' has shape " + in.shape()
                        + ", the pipeline makes [batch, sequence]");
            }
            made.put(in.name(), in.dtype());
        }
        if (!made.containsKey(INPUT_IDS)) {
            throw new IllegalArgumentException(TYPE + " pipeline: the model has no '" + INPUT_IDS + "' input");
        }
        int rank = pooling == Pooling.NONE ? 2 : 3;
        TensorInfo out = null;
        for (TensorInfo t : modelOutputs) {
            if (outputName != null ? t.name().equals(outputName) : t.shape() == null || t.shape().rank() == rank) {
                out = t;
                break;
            }
        }
        if (out == null) {
            throw new IllegalArgumentException(TYPE + " pipeline: the model has no " + (outputName != null ? "output '" + outputName + "'"
                    : "output of rank " + rank) + "; its outputs are " + modelOutputs);
        }
        if (out.shape() != null && out.shape().rank() != rank) {
            throw new IllegalArgumentException(TYPE + " pipeline: output '" + out.name() + "' has shape " + out.shape() + ", "
                    + pooling.name().toLowerCase(Locale.ROOT) + " pooling needs rank " + rank);
        }
        return new TextEmbeddingPipeline(tokenizer, maxLength, pooling, normalize, out.name(), made);
    }

    @Override
    public Map<String, Tensor> encode(List<?> items, Arena arena) {
        if (items.isEmpty()) {
            throw new PipelineException("no texts to embed");
        }
        String[] texts = new String[items.size()];
        for (int i = 0; i < texts.length; i++) {
            if (!(items.get(i) instanceof String s)) {
                throw new PipelineException("text item " + i + " is " + (items.get(i) == null ? "null" : "not a string"));
            }
            texts[i] = s;
        }
        WordPieceTokenizer.Batch b = tokenizer.encodeBatch(List.of(texts), maxLength);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, DType> e : inputs.entrySet()) {
            long[] values = switch (e.getKey()) {
                case INPUT_IDS -> b.ids();
                case ATTENTION_MASK -> b.attentionMask();
                default -> b.typeIds();
            };
            out.put(e.getKey(), toTensor(arena, values, e.getValue(), b.batch(), b.length()));
        }
        return out;
    }

    private static Tensor toTensor(Arena arena, long[] values, DType dtype, int batch, int length) {
        if (dtype == DType.INT64) {
            return Tensor.ofLongs(arena, values, batch, length);
        }
        int[] ints = new int[values.length];
        for (int i = 0; i < ints.length; i++) {
            ints[i] = (int) values[i];
        }
        return Tensor.ofInts(arena, ints, batch, length);
    }

    @Override
    public Map<String, Tensor> decode(Map<String, Tensor> modelOutputs, Map<String, Tensor> modelInputs, Arena arena) {
        int rank = pooling == Pooling.NONE ? 2 : 3;
        Tensor h = pick(modelOutputs, rank);
        Shape s = h.shape();
        int batch = Math.toIntExact(s.dim(0));
        int hidden = Math.toIntExact(s.dim(rank - 1));
        Tensor e = Tensor.allocate(arena, DType.FLOAT, Shape.of(batch, hidden));
        MemorySegment dst = e.data();
        double[] acc = new double[hidden];
        if (pooling == Pooling.NONE) {
            for (int b = 0; b < batch; b++) {
                for (int k = 0; k < hidden; k++) {
                    acc[k] = read(h, (long) b * hidden + k);
                }
                store(acc, dst, b);
            }
        } else {
            int seq = Math.toIntExact(s.dim(1));
            long[] mask = pooling == Pooling.MEAN ? mask(modelInputs, batch, seq) : null;
            for (int b = 0; b < batch; b++) {
                java.util.Arrays.fill(acc, 0);
                long base = (long) b * seq * hidden;
                if (pooling == Pooling.CLS) {
                    for (int k = 0; k < hidden; k++) {
                        acc[k] = read(h, base + k);
                    }
                } else {
                    double count = 0;
                    for (int t = 0; t < seq; t++) {
                        long m = mask[b * seq + t];
                        if (m == 0) {
                            continue;
                        }
                        count += m;
                        long row = base + (long) t * hidden;
                        for (int k = 0; k < hidden; k++) {
                            acc[k] += m * read(h, row + k);
                        }
                    }
                    double inv = 1.0 / Math.max(count, 1e-9);
                    for (int k = 0; k < hidden; k++) {
                        acc[k] *= inv;
                    }
                }
                store(acc, dst, b);
            }
        }
        return Map.of(OUTPUT, e);
    }

    private void store(double[] acc, MemorySegment dst, int row) {
        double scale = 1;
        if (normalize) {
            double sq = 0;
            for (double v : acc) {
                sq += v * v;
            }
            scale = 1.0 / Math.max(Math.sqrt(sq), 1e-12);
        }
        long base = (long) row * acc.length;
        for (int k = 0; k < acc.length; k++) {
            dst.setAtIndex(Tensor.F32, base + k, (float) (acc[k] * scale));
        }
    }

    private static double read(Tensor t, long i) {
        return t.dtype() == DType.FLOAT ? t.data().getAtIndex(Tensor.F32, i) : t.getDouble(i);
    }

    private Tensor pick(Map<String, Tensor> outputs, int rank) {
        Tensor h = null;
        if (outputName != null) {
            h = outputs.get(outputName);
        } else {
            for (Tensor t : outputs.values()) {
                if (t.shape().rank() == rank) {
                    h = t;
                    break;
                }
            }
        }
        if (h == null || h.shape().rank() != rank || h.dtype() == DType.STRING || !h.dtype().isFloating()) {
            throw new IllegalStateException(TYPE + " pipeline: no floating output " + (outputName == null ? "" : "'" + outputName + "' ")
                    + "of rank " + rank + " among the model's outputs " + outputs.keySet());
        }
        return h;
    }

    /** The attention mask as [batch * seq] longs: the input made, else input_ids != pad, else all ones. */
    private long[] mask(Map<String, Tensor> modelInputs, int batch, int seq) {
        Tensor m = modelInputs.get(ATTENTION_MASK);
        Tensor ids = modelInputs.get(INPUT_IDS);
        Tensor src = m != null ? m : ids;
        long[] out = new long[batch * seq];
        if (src == null) {
            java.util.Arrays.fill(out, 1);
            return out;
        }
        if (src.shape().rank() != 2 || src.shape().dim(0) != batch || src.shape().dim(1) != seq) {
            throw new IllegalStateException(TYPE + " pipeline: the model's token states are [" + batch + ", " + seq
                    + ", H] but the input '" + (m != null ? ATTENTION_MASK : INPUT_IDS) + "' is " + src.shape());
        }
        int pad = tokenizer.padId();
        for (int i = 0; i < out.length; i++) {
            long v = src.getAsLong(i);
            out[i] = m != null ? v : (v != pad ? 1 : 0);
        }
        return out;
    }
}
