package dev.gatun.engine.ops;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Ops that move elements without computing on them. Every kernel describes its copy as strided boxes and hands
 * them to {@link StridedCopy}, which merges contiguous dims and copies the longest runs at once; all dtypes
 * (strings too) are moved by element size.
 *
 * <p>Specs (https://onnx.ai/onnx/operators/): onnx__Transpose.html, onnx__Concat.html, onnx__Split.html,
 * onnx__Slice.html, onnx__Tile.html, onnx__DepthToSpace.html, onnx__SpaceToDepth.html, onnx__ReverseSequence.html.
 *
 * <ul>
 *   <li>Transpose: out[i_0..i_{r-1}] = in[j] with j[perm[k]] = i_k; out dims d[perm[k]]; perm defaults to reversed.</li>
 *   <li>Concat: inputs equal except on {@code axis}; out[.., o_k + i, ..] = in_k[.., i, ..] with o_k the sum of
 *       the earlier inputs' sizes on the axis.</li>
 *   <li>Split: the inverse of Concat, sizes from {@code split} (attribute before opset 13, input from 13),
 *       {@code num_outputs} (opset 18: chunks of ceil(d / n), the last one smaller), or equal parts.</li>
 *   <li>Slice: per sliced axis out[i] = in[start + i * step], n = max(ceil((end - start) / step), 0), start and end
 *       made non-negative then clamped ([0, d] for step &gt; 0, [-1, d-1] for step &lt; 0). Attributes before opset 10.</li>
 *   <li>Tile: out dims d_k * r_k, out[i] = in[i_k mod d_k].</li>
 *   <li>DepthToSpace [N, C, H, W] -&gt; [N, C/b^2, H*b, W*b]: DCR views the input as [N, b, b, C/b^2, H, W] and
 *       transposes by (0,3,4,1,5,2); CRD views it as [N, C/b^2, b, b, H, W] and transposes by (0,1,4,2,5,3).
 *       SpaceToDepth [N, C, H, W] -&gt; [N, C*b^2, H/b, W/b]: [N, C, H/b, b, W/b, b] transposed by (0,3,5,1,2,4).</li>
 *   <li>ReverseSequence: along {@code time_axis}, the first seq_lens[b] entries of batch b are reversed, the rest copied.</li>
 * </ul>
 */
public final class LayoutOps implements OpFamily {
    static final DType[] ALL = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL, DType.STRING};
    private static final DType[] INDEX = {DType.INT64, DType.INT32};

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Transpose", ALL),
                OpInfo.of("Concat", ALL),
                OpInfo.of("Split", ALL),
                OpInfo.of("Slice", ALL),
                OpInfo.of("Tile", 6, ALL),
                OpInfo.of("DepthToSpace", ALL),
                OpInfo.of("SpaceToDepth", ALL),
                OpInfo.of("ReverseSequence", 10, ALL));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Transpose" -> planTranspose(node);
            case "Concat" -> planConcat(node);
            case "Split" -> planSplit(node);
            case "Slice" -> planSlice(node);
            case "Tile" -> planTile(node);
            case "DepthToSpace", "SpaceToDepth" -> planDepthSpace(node);
            case "ReverseSequence" -> planReverseSequence(node);
            default -> throw node.unsupported("op " + node.opType());
        };
    }

    /** out = in transposed by {@code perm}. */
    static Tensor transpose(KernelContext ctx, Tensor in, int[] perm) {
        long[] dims = in.shape().dims();
        long[] inStrides = StridedCopy.strides(dims);
        long[] outDims = new long[dims.length];
        long[] srcStrides = new long[dims.length];
        for (int k = 0; k < perm.length; k++) {
            outDims[k] = dims[perm[k]];
            srcStrides[k] = inStrides[perm[k]];
        }
        Tensor out = StridedCopy.allocate(ctx, in.dtype(), Shape.of(outDims));
        StridedCopy.copy(in, 0, srcStrides, out, 0, StridedCopy.strides(outDims), outDims);
        return out;
    }

    private static Planned planTranspose(NodeSpec node) {
        long[] permAttr = node.attrs().getInts("perm", null);
        return Planned.of((ctx, in) -> {
            int r = in[0].shape().rank();
            int[] perm = new int[r];
            if (permAttr == null) {
                for (int k = 0; k < r; k++) {
                    perm[k] = r - 1 - k;
                }
            } else {
                boolean[] seen = new boolean[r];
                if (permAttr.length != r) {
                    throw node.error("perm " + Arrays.toString(permAttr) + " does not match input " + in[0].shape());
                }
                for (int k = 0; k < r; k++) {
                    long p = permAttr[k] < 0 ? permAttr[k] + r : permAttr[k];
                    if (p < 0 || p >= r || seen[(int) p]) {
                        throw node.error("perm " + Arrays.toString(permAttr) + " is not a permutation of the axes of " + in[0].shape());
                    }
                    seen[(int) p] = true;
                    perm[k] = (int) p;
                }
            }
            return new Tensor[] {transpose(ctx, in[0], perm)};
        }, node.inputType(0));
    }

    private static Planned planConcat(NodeSpec node) {
        if (!node.attrs().has("axis") && node.opset() >= 4) {
            throw node.unsupported("Concat without the axis attribute");
        }
        long axisAttr = node.attrs().getInt("axis", 1);
        DType t = node.inputType(0);
        for (int i = 1; i < node.inputCount(); i++) {
            if (node.inputType(i) != t) {
                throw node.unsupported("inputs of different types " + t + " and " + node.inputType(i));
            }
        }
        return Planned.of((ctx, in) -> {
            Shape s0 = in[0].shape();
            int r = s0.rank();
            int axis = ShapeOps.axis(node, axisAttr, r, "axis");
            long[] outDims = s0.dims();
            long total = 0;
            for (Tensor x : in) {
                Shape s = x.shape();
                boolean ok = s.rank() == r;
                for (int k = 0; ok && k < r; k++) {
                    ok = k == axis || s.dim(k) == s0.dim(k);
                }
                if (!ok) {
                    throw node.error("cannot concatenate " + s0 + " and " + s + " on axis " + axis);
                }
                total += s.dim(axis);
            }
            outDims[axis] = total;
            Tensor out = StridedCopy.allocate(ctx, t, Shape.of(outDims));
            long outer = s0.sizeOf(0, axis);
            long inner = Shape.of(outDims).sizeOf(axis + 1, r);
            long outRow = total * inner;
            long offset = 0;
            for (Tensor x : in) {
                long row = x.shape().dim(axis) * inner;
                StridedCopy.copy(x, 0, new long[] {row, 1}, out, offset, new long[] {outRow, 1}, new long[] {outer, row});
                offset += row;
            }
            return new Tensor[] {out};
        }, t);
    }

    private static Planned planSplit(NodeSpec node) {
        long axisAttr = node.attrs().getInt("axis", 0);
        int outs = node.outputCount();
        long[] splitAttr = node.opset() < 13 ? node.attrs().getInts("split", null) : null;
        long numOutputs = node.opset() >= 18 ? node.attrs().getInt("num_outputs", 0) : 0;
        if (node.opset() >= 18 && node.attrs().has("num_outputs") && node.hasInput(1)) {
            throw node.unsupported("both the split input and num_outputs");
        }
        if (numOutputs != 0 && numOutputs != outs) {
            throw node.unsupported("num_outputs " + numOutputs + " with " + outs + " outputs");
        }
        if (splitAttr != null && splitAttr.length != outs) {
            throw node.unsupported("split " + Arrays.toString(splitAttr) + " with " + outs + " outputs");
        }
        boolean splitInput = node.hasInput(1) && (node.opset() >= 13 || node.opset() < 2);
        if (splitInput) {
            node.requireType(1, DType.INT64);
        }
        DType t = node.inputType(0);
        DType[] types = new DType[outs];
        Arrays.fill(types, t);
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            int r = s.rank();
            int axis = ShapeOps.axis(node, axisAttr, r, "axis");
            long d = s.dim(axis);
            long[] sizes;
            if (splitInput) {
                sizes = ShapeOps.longs(in[1]);
            } else if (splitAttr != null) {
                sizes = splitAttr;
            } else {
                sizes = new long[outs];
                if (numOutputs != 0) {
                    long chunk = Math.ceilDiv(d, outs);
                    for (int i = 0; i < outs; i++) {
                        sizes[i] = Math.max(0, Math.min(chunk, d - i * chunk));
                    }
                } else {
                    if (d % outs != 0) {
                        throw node.error("cannot split axis " + axis + " of " + s + " into " + outs + " equal parts");
                    }
                    Arrays.fill(sizes, d / outs);
                }
            }
            long sum = 0;
            for (long x : sizes) {
                if (x < 0) {
                    throw node.error("negative split size in " + Arrays.toString(sizes));
                }
                sum += x;
            }
            if (sizes.length != outs || sum != d) {
                throw node.error("split " + Arrays.toString(sizes) + " does not divide axis " + axis + " of " + s
                        + " into " + outs + " outputs");
            }
            long outer = s.sizeOf(0, axis);
            long inner = s.sizeOf(axis + 1, r);
            long inRow = d * inner;
            long offset = 0;
            Tensor[] result = new Tensor[outs];
            for (int i = 0; i < outs; i++) {
                long[] dims = s.dims();
                dims[axis] = sizes[i];
                result[i] = StridedCopy.allocate(ctx, t, Shape.of(dims));
                long row = sizes[i] * inner;
                StridedCopy.copy(in[0], offset, new long[] {inRow, 1}, result[i], 0, new long[] {row, 1}, new long[] {outer, row});
                offset += row;
            }
            return result;
        }, types);
    }

    private static Planned planSlice(NodeSpec node) {
        boolean attrs = node.opset() < 10;
        long[] startsAttr = attrs ? node.attrs().getInts("starts", null) : null;
        long[] endsAttr = attrs ? node.attrs().getInts("ends", null) : null;
        long[] axesAttr = attrs ? node.attrs().getInts("axes", null) : null;
        if (attrs && (startsAttr == null || endsAttr == null)) {
            throw node.unsupported("Slice without the starts and ends attributes");
        }
        if (!attrs) {
            for (int i = 1; i < 5; i++) {
                if (node.hasInput(i) || i < 3) {
                    node.requireType(i, INDEX);
                }
            }
        }
        // With constant parameters the geometry depends only on the input's shape: cached across replayed runs.
        boolean constant = attrs || (node.constant(1) != null && node.constant(2) != null
                && (!node.hasInput(3) || node.constant(3) != null) && (!node.hasInput(4) || node.constant(4) != null));
        Memo<SliceGeometry> geometries = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            SliceGeometry g = geometries.get(in[0].shape());
            if (g != null && !constant && !g.sameParameters(in)) {
                g = null;
            }
            if (g == null) {
                long[] starts = attrs ? startsAttr : ShapeOps.longs(in[1]);
                long[] ends = attrs ? endsAttr : ShapeOps.longs(in[2]);
                long[] axes = attrs ? axesAttr : in.length > 3 && in[3] != null ? ShapeOps.longs(in[3]) : null;
                long[] steps = !attrs && in.length > 4 && in[4] != null ? ShapeOps.longs(in[4]) : null;
                g = geometries.put(in[0].shape(), sliceGeometry(node, in[0].shape(), starts, ends, axes, steps)
                        .withParameters(starts, ends, axes, steps));
            }
            return Memo.outputs(outputs, g.apply(ctx, in[0]));
        }, node.inputType(0));
    }

    /**
     * Where a slice reads (element offset and strides in the input) and what it writes (dims, strides), with the
     * parameters it was computed from (to reuse it when run-time parameters repeat).
     */
    record SliceGeometry(Shape out, long offset, long[] srcStrides, long[] outDims, long[] outStrides, long[][] parameters) {
        SliceGeometry withParameters(long[]... p) {
            return new SliceGeometry(out, offset, srcStrides, outDims, outStrides, p);
        }

        /** Whether inputs 1.. (starts, ends, axes, steps) hold the parameters this geometry was computed from. */
        boolean sameParameters(Tensor[] in) {
            for (int i = 0; i < parameters.length; i++) {
                Tensor t = in.length > i + 1 ? in[i + 1] : null;
                long[] p = parameters[i];
                if (t == null || p == null) {
                    if ((t == null) != (p == null)) {
                        return false;
                    }
                    continue;
                }
                if (t.size() != p.length) {
                    return false;
                }
                for (int j = 0; j < p.length; j++) {
                    if (t.getAsLong(j) != p[j]) {
                        return false;
                    }
                }
            }
            return true;
        }

        Tensor apply(KernelContext ctx, Tensor x) {
            Tensor y = StridedCopy.allocate(ctx, x.dtype(), out);
            StridedCopy.copy(x, offset, srcStrides, y, 0, outStrides, outDims);
            return y;
        }
    }

    /** The geometry of a slice of an input of shape {@code s} with resolved parameters (axes and steps may be null). */
    static SliceGeometry sliceGeometry(NodeSpec node, Shape s, long[] starts, long[] ends, long[] axes, long[] steps) {
        int r = s.rank();
        int n = starts.length;
        if (ends.length != n || axes != null && axes.length != n || steps != null && steps.length != n) {
            throw node.error("starts " + Arrays.toString(starts) + ", ends " + Arrays.toString(ends) + ", axes "
                    + Arrays.toString(axes) + " and steps " + Arrays.toString(steps) + " differ in length");
        }
        long[] dims = s.dims();
        long[] inStrides = StridedCopy.strides(dims);
        long[] outDims = dims.clone();
        long[] srcStrides = inStrides.clone();
        long offset = 0;
        boolean[] seen = new boolean[r];
        for (int i = 0; i < n; i++) {
            int a = ShapeOps.axis(node, axes == null ? i : axes[i], r, "axis");
            if (seen[a]) {
                throw node.error("axis " + a + " is repeated in axes " + Arrays.toString(axes));
            }
            seen[a] = true;
            long step = steps == null ? 1 : steps[i];
            if (step == 0) {
                throw node.error("step 0 on axis " + a);
            }
            long d = dims[a];
            long st = starts[i] < 0 ? starts[i] + d : starts[i];
            long en = ends[i] < 0 ? ends[i] + d : ends[i];
            if (step > 0) {
                st = Math.clamp(st, 0, d);
                en = Math.clamp(en, 0, d);
            } else {
                st = Math.clamp(st, -1, d - 1);
                en = Math.clamp(en, -1, d - 1);
            }
            long count = Math.max(Math.ceilDiv(en - st, step), 0);
            outDims[a] = count;
            srcStrides[a] = count > 1 ? Math.multiplyExact(inStrides[a], step) : inStrides[a];
            if (count > 0) {
                offset += st * inStrides[a];
            }
        }
        return new SliceGeometry(Shape.of(outDims), offset, srcStrides, outDims, StridedCopy.strides(outDims), null);
    }

    private static Planned planTile(NodeSpec node) {
        node.requireType(1, DType.INT64);
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            long[] reps = ShapeOps.longs(in[1]);
            int r = s.rank();
            if (reps.length != r) {
                throw node.error("repeats " + Arrays.toString(reps) + " do not match the rank of input " + s);
            }
            long[] dims = s.dims();
            long[] outDims = new long[r];
            for (int k = 0; k < r; k++) {
                if (reps[k] < 0) {
                    throw node.error("negative repeat in " + Arrays.toString(reps));
                }
                try {
                    outDims[k] = Math.multiplyExact(dims[k], reps[k]);
                } catch (ArithmeticException e) {
                    throw new EngineException(EngineException.Kind.LIMIT, node.where() + ": repeats " + Arrays.toString(reps)
                            + " of input " + s + " make more elements than fit in memory");
                }
            }
            Tensor out = StridedCopy.allocate(ctx, in[0].dtype(), Shape.of(outDims));
            if (out.size() == 0) {
                return new Tensor[] {out};
            }
            long[] os = StridedCopy.strides(outDims);
            StridedCopy.copy(in[0], 0, StridedCopy.strides(dims), out, 0, os, dims);
            // replicate, innermost axis first: the block [.., 0:d_k, :] is contiguous once the axes after k are tiled
            for (int k = r - 1; k >= 0; k--) {
                if (reps[k] == 1) {
                    continue;
                }
                long block = dims[k] * os[k];
                long[] cd = new long[k + 2];
                long[] ss = new long[k + 2];
                long[] ds = new long[k + 2];
                for (int j = 0; j < k; j++) {
                    cd[j] = dims[j];
                    ss[j] = os[j];
                    ds[j] = os[j];
                }
                cd[k] = reps[k] - 1;
                ss[k] = 0;
                ds[k] = block;
                cd[k + 1] = block;
                ss[k + 1] = 1;
                ds[k + 1] = 1;
                StridedCopy.copy(out, 0, ss, out, block, ds, cd);
            }
            return new Tensor[] {out};
        }, node.inputType(0));
    }

    private static Planned planDepthSpace(NodeSpec node) {
        boolean d2s = node.opType().equals("DepthToSpace");
        long b = node.attrs().getInt("blocksize", 0);
        if (b <= 0) {
            throw node.unsupported("blocksize " + b);
        }
        String mode = d2s && node.opset() >= 11 ? node.attrs().getString("mode", "DCR") : "DCR";
        if (!mode.equals("DCR") && !mode.equals("CRD")) {
            throw node.unsupported("mode '" + mode + "'");
        }
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            if (s.rank() != 4) {
                throw node.error("input must be 4-D [N,C,H,W], got " + s);
            }
            long n = s.dim(0);
            long c = s.dim(1);
            long h = s.dim(2);
            long w = s.dim(3);
            long[] view;
            int[] perm;
            Shape outShape;
            if (d2s) {
                if (c % (b * b) != 0) {
                    throw node.error("channels of " + s + " are not a multiple of blocksize^2 = " + b * b);
                }
                long co = c / (b * b);
                view = mode.equals("DCR") ? new long[] {n, b, b, co, h, w} : new long[] {n, co, b, b, h, w};
                perm = mode.equals("DCR") ? new int[] {0, 3, 4, 1, 5, 2} : new int[] {0, 1, 4, 2, 5, 3};
                outShape = Shape.of(n, co, h * b, w * b);
            } else {
                if (h % b != 0 || w % b != 0) {
                    throw node.error("height and width of " + s + " are not multiples of blocksize " + b);
                }
                view = new long[] {n, c, h / b, b, w / b, b};
                perm = new int[] {0, 3, 5, 1, 2, 4};
                outShape = Shape.of(n, c * b * b, h / b, w / b);
            }
            return new Tensor[] {transpose(ctx, in[0].reshape(Shape.of(view)), perm).reshape(outShape)};
        }, node.inputType(0));
    }

    private static Planned planReverseSequence(NodeSpec node) {
        node.requireType(1, DType.INT64);
        long batchAxis = node.attrs().getInt("batch_axis", 1);
        long timeAxis = node.attrs().getInt("time_axis", 0);
        if (!(batchAxis == 1 && timeAxis == 0 || batchAxis == 0 && timeAxis == 1)) {
            throw node.unsupported("batch_axis " + batchAxis + " with time_axis " + timeAxis);
        }
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            if (s.rank() < 2) {
                throw node.error("input must have rank >= 2, got " + s);
            }
            long[] lens = ShapeOps.longs(in[1]);
            long batch = s.dim((int) batchAxis);
            long time = s.dim((int) timeAxis);
            if (lens.length != batch) {
                throw node.error("sequence_lens has " + lens.length + " entries for batch size " + batch);
            }
            long inner = s.sizeOf(2, s.rank());
            long[] st = StridedCopy.strides(new long[] {s.dim(0), s.dim(1)});
            long bStride = st[(int) batchAxis] * inner;
            long tStride = st[(int) timeAxis] * inner;
            Tensor out = StridedCopy.allocate(ctx, in[0].dtype(), s);
            for (long bi = 0; bi < batch; bi++) {
                long len = lens[(int) bi];
                if (len < 0 || len > time) {
                    throw node.error("sequence length " + len + " of batch " + bi + " is outside [0, " + time + "]");
                }
                long base = bi * bStride;
                // reversed part: out[t] = in[len - 1 - t]; then the rest copied as is
                if (len > 0) {
                    StridedCopy.copy(in[0], base + (len - 1) * tStride, new long[] {-tStride, 1}, out, base,
                            new long[] {tStride, 1}, new long[] {len, inner});
                }
                StridedCopy.copy(in[0], base + len * tStride, new long[] {tStride, 1}, out, base + len * tStride,
                        new long[] {tStride, 1}, new long[] {time - len, inner});
            }
            return new Tensor[] {out};
        }, node.inputType(0));
    }
}
