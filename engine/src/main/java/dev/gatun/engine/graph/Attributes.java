package dev.gatun.engine.graph;

import dev.gatun.engine.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A node's attributes by name, with typed getters that take ONNX's default. A getter asked for the wrong type
 * throws with the attribute's name; the caller ({@link dev.gatun.engine.ops.NodeSpec}) adds the node.
 */
public final class Attributes {
    private final Map<String, Attribute> map;

    public Attributes(Map<String, Attribute> map) {
        this.map = Collections.unmodifiableMap(new LinkedHashMap<>(map));
    }

    public static Attributes empty() {
        return new Attributes(Map.of());
    }

    public boolean has(String name) {
        return map.containsKey(name);
    }

    public Attribute get(String name) {
        return map.get(name);
    }

    public Map<String, Attribute> asMap() {
        return map;
    }

    public long getInt(String name, long def) {
        return get(name, def, a -> a instanceof Attribute.Int i ? i.value() : null, "int");
    }

    public float getFloat(String name, float def) {
        return get(name, def, a -> switch (a) {
            case Attribute.Float f -> f.value();
            case Attribute.Int i -> (float) i.value();
            default -> null;
        }, "float");
    }

    public String getString(String name, String def) {
        return get(name, def, a -> a instanceof Attribute.Str s ? s.value() : null, "string");
    }

    public long[] getInts(String name, long[] def) {
        return get(name, def, a -> a instanceof Attribute.Ints i ? i.values().clone() : null, "ints");
    }

    public float[] getFloats(String name, float[] def) {
        return get(name, def, a -> a instanceof Attribute.Floats f ? f.values().clone() : null, "floats");
    }

    public String[] getStrings(String name, String[] def) {
        return get(name, def, a -> a instanceof Attribute.Strs s ? s.values().clone() : null, "strings");
    }

    public Tensor getTensor(String name) {
        return get(name, null, a -> a instanceof Attribute.TensorValue t ? t.value() : null, "tensor");
    }

    public Graph getGraph(String name) {
        return get(name, null, a -> a instanceof Attribute.GraphValue g ? g.value() : null, "graph");
    }

    private <T> T get(String name, T def, Function<Attribute, T> f, String type) {
        Attribute a = map.get(name);
        if (a == null) {
            return def;
        }
        T v = f.apply(a);
        if (v == null) {
            throw new IllegalArgumentException("attribute '" + name + "' is " + a.getClass().getSimpleName() + ", expected " + type);
        }
        return v;
    }

    @Override
    public String toString() {
        return map.toString();
    }
}
