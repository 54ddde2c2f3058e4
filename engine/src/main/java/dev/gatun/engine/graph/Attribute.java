package dev.gatun.engine.graph;

import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;

/** One node attribute, converted from the protobuf form so that no op sees protobuf. */
public sealed interface Attribute {
    record Int(long value) implements Attribute {}

    record Float(float value) implements Attribute {}

    record Str(String value) implements Attribute {}

    record Ints(long[] values) implements Attribute {
        @Override
        public String toString() {
            return Arrays.toString(values);
        }
    }

    record Floats(float[] values) implements Attribute {
        @Override
        public String toString() {
            return Arrays.toString(values);
        }
    }

    record Strs(String[] values) implements Attribute {
        @Override
        public String toString() {
            return Arrays.toString(values);
        }
    }

    record TensorValue(Tensor value) implements Attribute {}

    /** A sub-graph (If, Loop, Scan bodies); kept as parsed for the families that run them. */
    record GraphValue(Graph value) implements Attribute {}

    /** An attribute type Gatun keeps but does not interpret (sparse tensors, type protos, lists of graphs). */
    record Other(String type) implements Attribute {}
}
