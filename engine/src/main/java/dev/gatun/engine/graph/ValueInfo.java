package dev.gatun.engine.graph;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;

/** A named value's declared type: element type (null when not a tensor Gatun knows) and shape (null when undeclared). */
public record ValueInfo(String name, DType dtype, Shape shape) {
    @Override
    public String toString() {
        return name + ": " + (dtype == null ? "?" : dtype) + (shape == null ? "[?]" : shape);
    }
}
