package dev.gatun.cli;

import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.io.TensorFiles;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import picocli.CommandLine.Option;

/**
 * The options that choose a model's inputs ({@code --input}, {@code --dim}, {@code --seed}, {@code --int-range}),
 * shared by {@code run}, {@code verify} and {@code bench}, and the inputs they make. An input not given as a file is random:
 * <ul>
 *   <li>float types: N(0, 1);</li>
 *   <li>integer types: uniform in [0, 100), or [LO, HI) with {@code --int-range LO:HI};</li>
 *   <li>bool: uniform 0/1;</li>
 *   <li>any input whose name contains "mask": all ones; any whose name contains "token_type": all zeros
 *       (BERT-style segment ids, which index a 2-row table);</li>
 * </ul>
 * seeded by {@code --seed} and the input's position, so the same command gives the same inputs. Symbolic dims
 * take their value from {@code --dim NAME=VALUE}; an unset one is 1, with a note.
 */
final class InputOptions {
    @Option(names = "--input", paramLabel = "NAME=FILE",
            description = "Input NAME from a .npy or .pb (TensorProto) file; may repeat. Inputs not given are random.")
    Map<String, Path> files = new LinkedHashMap<>();

    @Option(names = "--dim", paramLabel = "NAME=VALUE",
            description = "Value of a symbolic dim (e.g. batch_size=2) for random inputs; may repeat. Unset ones are 1.")
    Map<String, Long> dims = new LinkedHashMap<>();

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed of the random inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--int-range", paramLabel = "LO:HI",
            description = "Integer inputs uniform in [LO, HI) (default 0:100). Inputs named *mask* are ones, *token_type* zeros.")
    String intRange;

    /** The inputs for a model with inputs {@code infos}; {@code describe} receives one line per input. */
    Map<String, Tensor> make(List<TensorInfo> infos, Arena arena, PrintWriter notes, List<String> describe) {
        long[] range = parseRange();
        Set<String> known = new LinkedHashSet<>();
        Set<String> symbolic = new LinkedHashSet<>();
        for (TensorInfo in : infos) {
            known.add(in.name());
            if (in.shape() != null) {
                for (int d = 0; d < in.shape().rank(); d++) {
                    if (in.shape().dim(d) == Shape.UNKNOWN && in.shape().dimName(d) != null) {
                        symbolic.add(in.shape().dimName(d));
                    }
                }
            }
        }
        for (String name : files.keySet()) {
            if (!known.contains(name)) {
                throw new UsageException("--input " + name + ": the model has no input '" + name + "'; its inputs are " + known);
            }
        }
        for (Map.Entry<String, Long> e : dims.entrySet()) {
            if (!symbolic.contains(e.getKey())) {
                throw new UsageException("--dim " + e.getKey() + ": no input has a symbolic dim named '" + e.getKey() + "'"
                        + (symbolic.isEmpty() ? " (the model's inputs have none)" : "; the symbolic dims are " + symbolic));
            }
            if (e.getValue() < 0) {
                throw new UsageException("--dim " + e.getKey() + "=" + e.getValue() + ": a dim must be >= 0");
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        Set<String> noted = new LinkedHashSet<>();
        for (int i = 0; i < infos.size(); i++) {
            TensorInfo in = infos.get(i);
            Path file = files.get(in.name());
            if (file != null) {
                if (!Files.exists(file)) {
                    throw new UsageException("--input " + in.name() + "=" + file + ": no such file");
                }
                Tensor t = TensorFiles.read(file, arena);
                describe.add(in.name() + "  " + t.dtype() + t.shape() + "  from " + file);
                out.put(in.name(), t);
                continue;
            }
            Shape shape = concreteShape(in, notes, noted);
            if (in.dtype() == null) {
                throw new UsageException("input '" + in.name() + "' has a data type Gatun does not support");
            }
            if (in.dtype() == DType.STRING) {
                throw new UsageException("input '" + in.name() + "' is a string tensor; give it with --input "
                        + in.name() + "=FILE.pb");
            }
            Tensor t = Tensor.allocate(arena, in.dtype(), shape);
            String how = fill(t, in.name(), new Random(seed * 1_000_003L + i), range);
            describe.add(in.name() + "  " + t.dtype() + t.shape() + "  " + how);
            out.put(in.name(), t);
        }
        return out;
    }

    private Shape concreteShape(TensorInfo in, PrintWriter notes, Set<String> noted) {
        Shape s = in.shape();
        if (s == null) {
            throw new UsageException("input '" + in.name() + "' has no declared shape; give it with --input "
                    + in.name() + "=FILE.npy");
        }
        long[] d = new long[s.rank()];
        List<String> unnamed = new ArrayList<>();
        for (int k = 0; k < d.length; k++) {
            d[k] = s.dim(k);
            if (d[k] != Shape.UNKNOWN) {
                continue;
            }
            String name = s.dimName(k);
            Long v = name == null ? null : dims.get(name);
            if (v != null) {
                d[k] = v;
            } else {
                d[k] = 1;
                if (name == null) {
                    unnamed.add(Integer.toString(k));
                } else if (noted.add(name)) {
                    notes.println("note: dim '" + name + "' set to 1 (choose it with --dim " + name + "=N)");
                }
            }
        }
        if (!unnamed.isEmpty()) {
            notes.println("note: input '" + in.name() + "' has unnamed dynamic dim(s) " + unnamed
                    + "; using 1 (give the input with --input to choose its shape)");
        }
        return Shape.of(d);
    }

    private static String fill(Tensor t, String name, Random rnd, long[] range) {
        String lower = name.toLowerCase(Locale.ROOT);
        long n = t.size();
        if (lower.contains("mask")) {
            for (long i = 0; i < n; i++) {
                t.setLong(i, 1);
            }
            return "ones (a mask)";
        }
        if (lower.contains("token_type")) {
            return "zeros (segment ids)";
        }
        DType dt = t.dtype();
        MemorySegment seg = t.data();
        if (dt == DType.FLOAT) {
            for (long i = 0; i < n; i++) {
                seg.setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
            }
            return "random N(0,1)";
        }
        if (dt.isFloating()) {
            for (long i = 0; i < n; i++) {
                t.setDouble(i, rnd.nextGaussian());
            }
            return "random N(0,1)";
        }
        if (dt == DType.BOOL) {
            for (long i = 0; i < n; i++) {
                t.setLong(i, rnd.nextBoolean() ? 1 : 0);
            }
            return "random bool";
        }
        for (long i = 0; i < n; i++) {
            t.setLong(i, rnd.nextLong(range[0], range[1]));
        }
        return "random uniform [" + range[0] + ", " + range[1] + ")";
    }

    private long[] parseRange() {
        if (intRange == null) {
            return new long[] {0, 100};
        }
        int colon = intRange.indexOf(':', 1);
        try {
            if (colon < 0) {
                throw new NumberFormatException();
            }
            long lo = Long.parseLong(intRange.substring(0, colon).strip());
            long hi = Long.parseLong(intRange.substring(colon + 1).strip());
            if (hi <= lo) {
                throw new UsageException("--int-range " + intRange + ": HI must be greater than LO");
            }
            return new long[] {lo, hi};
        } catch (NumberFormatException e) {
            throw new UsageException("--int-range " + intRange + ": expected LO:HI with integers, e.g. 0:30522");
        }
    }
}
