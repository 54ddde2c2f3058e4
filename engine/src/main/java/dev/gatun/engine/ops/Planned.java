package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;

/** What planning a node yields: its kernel and its outputs' element types. */
public record Planned(Kernel kernel, DType[] outputTypes) {
    public static Planned of(Kernel kernel, DType... outputTypes) {
        return new Planned(kernel, outputTypes);
    }
}
