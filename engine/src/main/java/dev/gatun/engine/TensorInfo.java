package dev.gatun.engine;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;

/**
 * A model input's or output's declared name, element type and shape. The shape may hold unknown dims
 * ({@link Shape#UNKNOWN}) named by the model ({@code batch_size}); {@code dtype} is null when the model
 * declares a type Gatun does not have.
 */
public record TensorInfo(String name, DType dtype, Shape shape) {
    @Override
    public String toString() {
        return name + ": " + (dtype == null ? "?" : dtype) + (shape == null ? "[?]" : shape);
    }
}
