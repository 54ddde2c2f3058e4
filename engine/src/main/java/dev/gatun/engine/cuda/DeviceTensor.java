package dev.gatun.engine.cuda;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import java.lang.foreign.MemorySegment;

/**
 * A tensor in device memory: dtype, shape and a device pointer (a zero-length segment: the host cannot read it),
 * dense row-major. {@code block} is the pool block it lives in (null for weights and other session-lifetime memory);
 * views made by {@link #reshape} share it, and the executor returns the block to the pool when no live value uses it.
 */
record DeviceTensor(DType dtype, Shape shape, MemorySegment ptr, DeviceMemoryPool.Block block) {
    long size() {
        return shape.size();
    }

    long byteSize() {
        return shape.size() * dtype.byteSize();
    }

    /** The same memory under another shape of the same size. */
    DeviceTensor reshape(Shape s) {
        if (s.size() != shape.size()) {
            throw new IllegalArgumentException("cannot view " + shape + " as " + s);
        }
        return new DeviceTensor(dtype, s, ptr, block);
    }

    /** A pointer {@code elements} elements in. */
    MemorySegment at(long elements) {
        return MemorySegment.ofAddress(ptr.address() + elements * dtype.byteSize());
    }

    @Override
    public String toString() {
        return dtype + "" + shape + "@cuda";
    }
}
