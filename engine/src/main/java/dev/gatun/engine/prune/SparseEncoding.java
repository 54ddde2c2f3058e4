package dev.gatun.engine.prune;

import com.google.protobuf.ByteString;
import dev.gatun.engine.onnx.proto.Onnx.SparseTensorProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Float weights as ONNX tensors: a {@code sparse_initializer} (COO per the ONNX spec: {@code values} float [NNZ]
 * named as the initializer, {@code indices} [NNZ] linear row-major indices in ascending order, {@code dims} the
 * dense shape; both in {@code raw_data}, little-endian) or a dense {@code TensorProto}. Costs per nonzero: 4 bytes
 * of value + 1, 2, 4 or 8 of index, so an int64-indexed fp32 tensor shrinks only beyond 67% sparsity, an int32-indexed
 * one beyond 50%.
 */
final class SparseEncoding {
    private SparseEncoding() {}

    /** The ONNX element type of the indices for a tensor whose largest nonzero index is {@code maxIndex}. */
    static int indexType(PruneOptions.IndexType t, long maxIndex) {
        if (t == PruneOptions.IndexType.INT64) {
            return TensorProto.DataType.INT64_VALUE;
        }
        if (maxIndex <= Byte.MAX_VALUE) {
            return TensorProto.DataType.INT8_VALUE;
        }
        if (maxIndex <= Short.MAX_VALUE) {
            return TensorProto.DataType.INT16_VALUE;
        }
        if (maxIndex <= Integer.MAX_VALUE) {
            return TensorProto.DataType.INT32_VALUE;
        }
        return TensorProto.DataType.INT64_VALUE;
    }

    static int indexBytes(int onnxType) {
        return switch (onnxType) {
            case TensorProto.DataType.INT8_VALUE -> 1;
            case TensorProto.DataType.INT16_VALUE -> 2;
            case TensorProto.DataType.INT32_VALUE -> 4;
            default -> 8;
        };
    }

    static long nonzeros(float[] w) {
        long n = 0;
        for (float v : w) {
            if (v != 0f) {
                n++;
            }
        }
        return n;
    }

    /** The bytes the sparse form of {@code w} takes (values + indices). */
    static long sparseBytes(float[] w, PruneOptions.IndexType t) {
        long nnz = 0;
        long last = -1;
        for (int i = 0; i < w.length; i++) {
            if (w[i] != 0f) {
                nnz++;
                last = i;
            }
        }
        return nnz * (4 + indexBytes(indexType(t, Math.max(0, last))));
    }

    /**
     * The sparse tensor of {@code w} with dense shape {@code dims}. Negative zeros count as zero (the dense tensor
     * they decode to holds +0, which no op can tell apart in a product).
     */
    static SparseTensorProto sparse(String name, float[] w, long[] dims, PruneOptions.IndexType t) {
        int nnz = 0;
        long last = 0;
        for (int i = 0; i < w.length; i++) {
            if (w[i] != 0f) {
                nnz++;
                last = i;
            }
        }
        int it = indexType(t, last);
        int ib = indexBytes(it);
        ByteBuffer values = ByteBuffer.allocate(Math.multiplyExact(nnz, 4)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer indices = ByteBuffer.allocate(Math.multiplyExact(nnz, ib)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < w.length; i++) {
            if (w[i] != 0f) {
                values.putFloat(w[i]);
                switch (ib) {
                    case 1 -> indices.put((byte) i);
                    case 2 -> indices.putShort((short) i);
                    case 4 -> indices.putInt(i);
                    default -> indices.putLong(i);
                }
            }
        }
        SparseTensorProto.Builder sp = SparseTensorProto.newBuilder()
                .setValues(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(nnz)
                        .setRawData(ByteString.copyFrom(values.array())))
                .setIndices(TensorProto.newBuilder().setDataType(it).addDims(nnz).setRawData(ByteString.copyFrom(indices.array())));
        for (long d : dims) {
            sp.addDims(d);
        }
        return sp.build();
    }

    /** A dense float initializer (raw_data, little-endian). */
    static TensorProto dense(String name, float[] w, long[] dims) {
        ByteBuffer b = ByteBuffer.allocate(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(w);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }
}
