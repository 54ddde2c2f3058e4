package dev.gatun.server;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The simple {@code /predict} format. Request: {@code {"inputs": {"x": [[1, 2, 3]]}}} (nested arrays take the
 * model's dtype for that input) or {@code {"inputs": {"x": {"shape": [1, 3], "data": [1, 2, 3], "datatype": "FP32"}}}};
 * for a model with a pipeline, raw items instead: {@code {"text": ["hello world"]}} (base64 strings for images).
 * An optional {@code "outputs": ["name"]} picks outputs. Response:
 * {@code {"model": "m", "version": "1", "outputs": {"y": [[...]]}, "timing_ms": 1.2}} with arrays nested by shape.
 */
final class PredictCodec {
    private PredictCodec() {}

    /**
     * A parsed request: tensors, or the pipeline's raw items.
     *
     * @param outputs the outputs asked for, or null for all
     */
    record Request(Map<String, RequestTensor> inputs, List<Object> items, List<String> outputs) {}

    /**
     * Parses a body.
     *
     * @param dtypeOf  the model's dtype for an input name (null: no such input)
     * @param rawName  the pipeline's raw field ({@code text}), or null without a pipeline
     * @param rawBytes whether raw items are bytes (base64 in JSON) rather than text
     */
    static Request parse(byte[] body, long maxElements, Function<String, DType> dtypeOf, String inputList, String rawName,
                         boolean rawBytes) {
        Map<String, RequestTensor> inputs = null;
        List<Object> items = null;
        List<String> outputs = null;
        try (JsonParser p = Json.parser(body, 0, body.length)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                throw HttpError.badRequest("malformed JSON: the request body is empty");
            }
            if (first != JsonToken.START_OBJECT) {
                throw HttpError.badRequest("the request must be a JSON object {\"inputs\": {...}}"
                        + (rawName == null ? "" : " or {\"" + rawName + "\": [...]}"));
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String f = p.currentName();
                JsonToken t = p.nextToken();
                if (f.equals("inputs")) {
                    inputs = inputs(p, t, body, maxElements, dtypeOf, inputList);
                } else if (f.equals("outputs")) {
                    outputs = names(p, t);
                } else if (rawName != null && f.equals(rawName)) {
                    items = items(p, t, rawName, rawBytes);
                } else {
                    throw HttpError.badRequest("unknown field '" + f + "' (expected \"inputs\""
                            + (rawName == null ? "" : " or \"" + rawName + "\"") + ", and optionally \"outputs\")");
                }
            }
            if (p.nextToken() != null) {
                throw HttpError.badRequest("malformed JSON: unexpected content after the request object at " + Json.where(p));
            }
        } catch (IOException e) {
            throw Json.malformed(e);
        }
        if (inputs == null && items == null) {
            throw HttpError.badRequest("the request has no \"inputs\"" + (rawName == null ? "" : " and no \"" + rawName + "\""));
        }
        if (inputs != null && items != null) {
            throw HttpError.badRequest("send either \"inputs\" or \"" + rawName + "\", not both");
        }
        return new Request(inputs, items, outputs);
    }

    private static Map<String, RequestTensor> inputs(JsonParser p, JsonToken t, byte[] body, long maxElements,
                                                     Function<String, DType> dtypeOf, String inputList) throws IOException {
        if (t != JsonToken.START_OBJECT) {
            throw HttpError.badRequest("\"inputs\" must be an object {\"name\": array, ...}");
        }
        Map<String, RequestTensor> m = new LinkedHashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken v = p.nextToken();
            DType model = dtypeOf.apply(name);
            RequestTensor rt;
            if (v == JsonToken.START_OBJECT) {
                rt = described(p, name, model, body, maxElements, inputList);
            } else {
                if (model == null) {
                    throw HttpError.badRequest("unknown input '" + name + "'; the model's inputs are " + inputList);
                }
                JsonData.Flat f = JsonData.read(p, model, name, maxElements, false);
                rt = new RequestTensor(name, model, f.shape(), f.data(), f.bytes());
            }
            if (m.put(name, rt) != null) {
                throw HttpError.badRequest("input '" + name + "' appears twice");
            }
        }
        return m;
    }

    /** {@code {"shape": [...], "data": [...], "datatype": "FP32"}}; data may come before the datatype. */
    private static RequestTensor described(JsonParser p, String name, DType model, byte[] body, long maxElements,
                                           String inputList) throws IOException {
        long[] shape = null;
        DType dtype = null;
        JsonData.Flat data = null;
        int dataOffset = -1;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken t = p.nextToken();
            switch (f) {
                case "shape" -> {
                    if (t != JsonToken.START_ARRAY) {
                        throw HttpError.badRequest("input '" + name + "': \"shape\" must be an array of non-negative integers");
                    }
                    List<Long> l = new ArrayList<>();
                    while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                        if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                                || p.getLongValue() < 0 || l.size() >= Json.MAX_DEPTH) {
                            throw HttpError.badRequest("input '" + name + "': \"shape\" must be an array of non-negative integers");
                        }
                        l.add(p.getLongValue());
                    }
                    shape = l.stream().mapToLong(Long::longValue).toArray();
                }
                case "datatype", "dtype" -> {
                    if (t != JsonToken.VALUE_STRING) {
                        throw HttpError.badRequest("input '" + name + "': \"" + f + "\" must be a string such as \"FP32\"");
                    }
                    dtype = Datatypes.parse(p.getText(), "input '" + name + "'");
                }
                case "data" -> {
                    if (dtype != null) {
                        data = JsonData.read(p, dtype, name, maxElements, false);
                    } else {
                        dataOffset = (int) p.currentTokenLocation().getByteOffset();
                        p.skipChildren();
                    }
                }
                default -> throw HttpError.badRequest("input '" + name + "': unknown field '" + f
                        + "' (expected \"shape\", \"data\", \"datatype\")");
            }
        }
        if (dtype == null) {
            dtype = model;
        }
        if (dtype == null) {
            throw HttpError.badRequest("unknown input '" + name + "'; the model's inputs are " + inputList);
        }
        if (dataOffset >= 0) {
            try (JsonParser q = Json.parser(body, dataOffset, body.length - dataOffset)) {
                q.nextToken();
                data = JsonData.read(q, dtype, name, maxElements, false);
            }
        }
        if (data == null) {
            throw HttpError.badRequest("input '" + name + "' has no \"data\"");
        }
        if (shape == null) {
            shape = data.shape();
        }
        long n = RequestTensor.checkedSize(shape, maxElements, name);
        if (n != data.count()) {
            throw HttpError.badRequest("input '" + name + "': \"data\" has " + data.count() + " values, shape "
                    + Arrays.toString(shape) + " needs " + n);
        }
        return new RequestTensor(name, dtype, shape, data.data(), data.bytes());
    }

    private static List<Object> items(JsonParser p, JsonToken t, String rawName, boolean rawBytes) throws IOException {
        List<Object> items = new ArrayList<>();
        if (t == JsonToken.VALUE_STRING) {
            items.add(item(p.getText(), rawName, 0, rawBytes));
            return items;
        }
        if (t != JsonToken.START_ARRAY) {
            throw HttpError.badRequest("\"" + rawName + "\" must be a string or an array of strings");
        }
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_STRING) {
                throw HttpError.badRequest("\"" + rawName + "\"[" + items.size() + "] must be a string"
                        + (rawBytes ? " (base64)" : ""));
            }
            items.add(item(p.getText(), rawName, items.size(), rawBytes));
        }
        return items;
    }

    private static Object item(String s, String rawName, int i, boolean rawBytes) {
        if (!rawBytes) {
            return s;
        }
        try {
            return Base64.getDecoder().decode(s);
        } catch (IllegalArgumentException e) {
            throw HttpError.badRequest("\"" + rawName + "\"[" + i + "] is not valid base64 (" + e.getMessage() + ")");
        }
    }

    private static List<String> names(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.START_ARRAY) {
            throw HttpError.badRequest("\"outputs\" must be an array of output names");
        }
        List<String> l = new ArrayList<>();
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_STRING) {
                throw HttpError.badRequest("\"outputs\" must be an array of output names");
            }
            l.add(p.getText());
        }
        return l;
    }

    /** The response body. */
    static byte[] response(String model, String version, Map<String, Tensor> outs, List<String> requested, double timingMs) {
        Map<String, Tensor> which = new LinkedHashMap<>();
        if (requested == null) {
            which.putAll(outs);
        } else {
            for (String n : requested) {
                Tensor t = outs.get(n);
                if (t == null) {
                    throw HttpError.badRequest("unknown output '" + n + "'; the outputs are " + outs.keySet());
                }
                which.put(n, t);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = Json.generator(out)) {
            g.writeStartObject();
            g.writeObjectFieldStart("outputs");
            for (Map.Entry<String, Tensor> e : which.entrySet()) {
                g.writeFieldName(e.getKey());
                TensorJson.writeNested(g, e.getValue());
            }
            g.writeEndObject();
            g.writeStringField("model", model);
            g.writeStringField("version", version);
            g.writeNumberField("timing_ms", Math.round(timingMs * 1000) / 1000.0);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
