package dev.gatun.engine.prune;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@link Pruner} prunes and how.
 *
 * @param sparsity  the fraction of weights set to zero, in [0, 1) (for {@link PrunePattern.TwoFour}: 0.5)
 * @param pattern   unstructured, 2:4 along the reduction axis, or RxC blocks
 * @param perLayer  true: every layer reaches {@code sparsity}; false: one magnitude threshold over all layers
 *                  (global), so layers with small weights lose more
 * @param include   node names (or globs with {@code *}) to prune; empty: every MatMul/Gemm/Conv with a constant weight
 * @param exclude   node names (or globs) never pruned
 * @param indexType the element type of the written {@code sparse_initializer} indices
 */
public record PruneOptions(double sparsity, PrunePattern pattern, boolean perLayer, List<String> include, List<String> exclude,
                           IndexType indexType) {

    /** How the linear indices of a {@code sparse_initializer} are stored. */
    public enum IndexType {
        /**
         * The narrowest signed type that holds the tensor's largest index (int8, int16, int32, else int64). ONNX Runtime
         * (1.29 tested) and Gatun read these; the ONNX spec text and {@code onnx.checker} ask for int64.
         */
        AUTO,
        /** int64, as the ONNX spec says: 8 bytes per nonzero, so pruned files shrink less. */
        INT64
    }

    public PruneOptions {
        if (!(sparsity >= 0 && sparsity < 1)) {
            throw new IllegalArgumentException("sparsity must be in [0, 1), got " + sparsity);
        }
        if (pattern instanceof PrunePattern.TwoFour && sparsity != 0.5) {
            throw new IllegalArgumentException("the 2:4 pattern keeps 2 of every 4 weights: its sparsity is 0.5, not " + sparsity);
        }
        if (pattern == null || indexType == null) {
            throw new IllegalArgumentException("pattern and indexType must not be null");
        }
        include = List.copyOf(include);
        exclude = List.copyOf(exclude);
    }

    /** Unstructured pruning to {@code sparsity} with a global threshold, every candidate layer, compact indices. */
    public static PruneOptions of(double sparsity) {
        return new PruneOptions(sparsity, new PrunePattern.Unstructured(), false, List.of(), List.of(), IndexType.AUTO);
    }

    /** 2:4 pruning (sparsity 0.5) of every candidate layer. */
    public static PruneOptions twoFour() {
        return new PruneOptions(0.5, new PrunePattern.TwoFour(), true, List.of(), List.of(), IndexType.AUTO);
    }

    public PruneOptions withPattern(PrunePattern p) {
        return new PruneOptions(sparsity, p, perLayer, include, exclude, indexType);
    }

    public PruneOptions withPerLayer(boolean b) {
        return new PruneOptions(sparsity, pattern, b, include, exclude, indexType);
    }

    public PruneOptions withInclude(List<String> names) {
        return new PruneOptions(sparsity, pattern, perLayer, names, exclude, indexType);
    }

    public PruneOptions withExclude(List<String> names) {
        return new PruneOptions(sparsity, pattern, perLayer, include, names, indexType);
    }

    public PruneOptions withIndexType(IndexType t) {
        return new PruneOptions(sparsity, pattern, perLayer, include, exclude, t);
    }

    /** Whether {@code name} matches {@code glob} (exactly, {@code *} standing for any run of characters). */
    static boolean matches(String glob, String name) {
        if (!glob.contains("*")) {
            return glob.equals(name);
        }
        StringBuilder re = new StringBuilder();
        for (String part : glob.split("\\*", -1)) {
            if (!re.isEmpty()) {
                re.append(".*");
            }
            re.append(Pattern.quote(part));
        }
        return name.matches(re.toString());
    }

    /** The pruning pattern. */
    public sealed interface PrunePattern {
        /** Each weight on its own: the smallest magnitudes become zero. */
        record Unstructured() implements PrunePattern {
            @Override
            public String toString() {
                return "unstructured";
            }
        }

        /**
         * For every output, in every group of 4 consecutive weights along the reduction axis K (a tail group of
         * fewer than 4 counts as padded with zeros), the 2 largest magnitudes are kept.
         */
        record TwoFour() implements PrunePattern {
            @Override
            public String toString() {
                return "2:4";
            }
        }

        /**
         * Blocks of {@code rows} outputs x {@code cols} consecutive reduction elements, scored by their mean squared
         * weight; the lowest-scoring blocks become zero (edge blocks may be smaller).
         */
        record Block(int rows, int cols) implements PrunePattern {
            public Block {
                if (rows < 1 || cols < 1) {
                    throw new IllegalArgumentException("block dims must be >= 1, got " + rows + "x" + cols);
                }
            }

            @Override
            public String toString() {
                return "block:" + rows + "x" + cols;
            }
        }

        /** Parses {@code unstructured}, {@code 2:4} or {@code block:RxC}. */
        static PrunePattern parse(String s) {
            String t = s.trim().toLowerCase(Locale.ROOT);
            if (t.equals("unstructured")) {
                return new Unstructured();
            }
            if (t.equals("2:4")) {
                return new TwoFour();
            }
            Matcher m = Pattern.compile("block:(\\d{1,6})x(\\d{1,6})").matcher(t);
            if (m.matches()) {
                return new Block(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
            }
            throw new IllegalArgumentException("unknown pattern '" + s + "': use unstructured, 2:4 or block:RxC (e.g. block:4x4)");
        }
    }
}
