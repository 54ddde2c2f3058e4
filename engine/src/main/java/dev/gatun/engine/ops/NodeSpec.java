package dev.gatun.engine.ops;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;

/**
 * Everything a family needs to plan one node: op type, opset of its domain, attributes, the element types of
 * its inputs (null for an omitted optional input), the static shapes known so far (null when unknown), the
 * values of inputs that are constant at plan time (initializers, folded constants), and how many outputs it has.
 */
public final class NodeSpec {
    private final String name;
    private final String opType;
    private final String domain;
    private final int opset;
    private final Attributes attrs;
    private final DType[] inputTypes;
    private final Shape[] inputShapes;
    private final Tensor[] constants;
    private final int outputCount;
    private PrepackCache prepack = PrepackCache.unshared();
    private String kernelNote;

    public NodeSpec(String name, String opType, String domain, int opset, Attributes attrs,
                    DType[] inputTypes, Shape[] inputShapes, Tensor[] constants, int outputCount) {
        this.name = name;
        this.opType = opType;
        this.domain = domain;
        this.opset = opset;
        this.attrs = attrs;
        this.inputTypes = inputTypes.clone();
        this.inputShapes = inputShapes == null ? new Shape[inputTypes.length] : inputShapes.clone();
        this.constants = constants == null ? new Tensor[inputTypes.length] : constants.clone();
        this.outputCount = outputCount;
    }

    /** A spec with no static shapes and no constants: what tests use to plan a node by hand. */
    public static NodeSpec of(String opType, int opset, Attributes attrs, int outputCount, DType... inputTypes) {
        return new NodeSpec(opType + "_0", opType, "", opset, attrs, inputTypes, null, null, outputCount);
    }

    public String name() {
        return name;
    }

    public String opType() {
        return opType;
    }

    /** "" for ai.onnx. */
    public String domain() {
        return domain;
    }

    /** The model's opset version for this node's domain. */
    public int opset() {
        return opset;
    }

    public Attributes attrs() {
        return attrs;
    }

    /** Number of inputs, counting omitted optional ones in the middle. */
    public int inputCount() {
        return inputTypes.length;
    }

    /** Whether input {@code i} is present (not beyond the list, not omitted). */
    public boolean hasInput(int i) {
        return i < inputTypes.length && inputTypes[i] != null;
    }

    /** Element type of input {@code i}, or null when omitted. */
    public DType inputType(int i) {
        return i < inputTypes.length ? inputTypes[i] : null;
    }

    /** Static shape of input {@code i} (may hold unknown dims), or null when not known at plan time. */
    public Shape inputShape(int i) {
        return i < inputShapes.length ? inputShapes[i] : null;
    }

    /** Value of input {@code i} when it is a constant at plan time, else null. */
    public Tensor constant(int i) {
        return i < constants.length ? constants[i] : null;
    }

    public int outputCount() {
        return outputCount;
    }

    /** Where to keep weights repacked for a kernel: shared by every session of the model. */
    public PrepackCache prepack() {
        return prepack;
    }

    /** Sets the model's prepack cache (the planner does this). */
    public NodeSpec withPrepack(PrepackCache cache) {
        this.prepack = cache;
        return this;
    }

    /** Records which kernel the family chose when it is worth showing (e.g. "sparse CSR 90.0% (est 2.9x)"). */
    public void noteKernel(String note) {
        this.kernelNote = note;
    }

    /** What {@link #noteKernel} recorded, or null. */
    public String kernelNote() {
        return kernelNote;
    }

    /** "node 'name' (Op, opset N)": how every message names a node. */
    public String where() {
        return "node '" + name + "' (" + (domain.isEmpty() ? "" : domain + ":") + opType + ", opset " + opset + ")";
    }

    /** A run-time error naming this node. */
    public EngineException error(String message) {
        return new EngineException(EngineException.Kind.RUNTIME, where() + ": " + message);
    }

    /** A plan-time refusal naming this node and what is unsupported. */
    public EngineException unsupported(String what) {
        return new EngineException(EngineException.Kind.UNSUPPORTED, where() + ": " + what + " is not supported");
    }

    /** Refuses the node unless input {@code i} has one of {@code allowed}. */
    public DType requireType(int i, DType... allowed) {
        DType t = inputType(i);
        for (DType a : allowed) {
            if (a == t) {
                return t;
            }
        }
        throw unsupported("input " + i + " of type " + t + " (supported: " + Arrays.toString(allowed) + ")");
    }

    @Override
    public String toString() {
        return where() + " inputs " + Arrays.toString(inputTypes);
    }
}
