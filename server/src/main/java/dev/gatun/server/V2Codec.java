package dev.gatun.server;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The KServe v2 (Open Inference Protocol) infer request and response, JSON and the binary tensor data extension:
 * a body whose first {@code Inference-Header-Content-Length} bytes are the JSON header and whose rest holds, in
 * input order, the data of every input with a {@code binary_data_size} parameter. Outputs come back binary when
 * requested ({@code outputs[i].parameters.binary_data} or {@code parameters.binary_data_output}).
 * Everything a client can get wrong is a 400 naming the input and the problem.
 */
final class V2Codec {
    private V2Codec() {}

    /** An output the client asked for. */
    record Requested(String name, boolean binary) {}

    /**
     * A parsed infer request.
     *
     * @param outputs the outputs asked for, or null for all
     */
    record Request(String id, Map<String, RequestTensor> inputs, List<Requested> outputs, boolean binaryOutputs) {}

    private static final class Draft {
        int index;
        String name;
        long[] shape;
        DType dtype;
        long binarySize = -1;
        JsonData.Flat data;
        int dataOffset = -1;

        String label() {
            return name != null ? "input '" + name + "'" : "inputs[" + index + "]";
        }
    }

    /**
     * Parses a request body.
     *
     * @param headerLength bytes of JSON at the start of the body (the whole body without the binary extension)
     * @param base64       inputs whose BYTES elements are base64 in JSON (a pipeline's encoded images)
     */
    static Request parse(byte[] body, int headerLength, long maxElements, Predicate<String> base64) {
        if (headerLength < 0 || headerLength > body.length) {
            throw HttpError.badRequest("Inference-Header-Content-Length is " + headerLength + ", beyond the body of "
                    + body.length + " bytes");
        }
        String id = null;
        boolean binaryOut = false;
        List<Draft> drafts = new ArrayList<>();
        List<Requested> outputs = null;
        try (JsonParser p = Json.parser(body, 0, headerLength)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                throw HttpError.badRequest("malformed JSON: the request body is empty");
            }
            if (first != JsonToken.START_OBJECT) {
                throw HttpError.badRequest("the request must be a JSON object {\"inputs\": [...]}");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String f = p.currentName();
                JsonToken t = p.nextToken();
                switch (f) {
                    case "id" -> {
                        if (t != JsonToken.VALUE_STRING) {
                            throw HttpError.badRequest("\"id\" must be a string");
                        }
                        id = p.getText();
                    }
                    case "parameters" -> {
                        JsonNode n = object(p, t, "parameters");
                        binaryOut = flag(n, "binary_data_output", "parameters");
                    }
                    case "inputs" -> {
                        if (t != JsonToken.START_ARRAY) {
                            throw HttpError.badRequest("\"inputs\" must be an array of tensors");
                        }
                        while (p.nextToken() != JsonToken.END_ARRAY) {
                            drafts.add(input(p, drafts.size(), body, headerLength, maxElements, base64));
                        }
                    }
                    case "outputs" -> outputs = outputs(p, t);
                    default -> p.skipChildren();
                }
            }
            if (p.nextToken() != null) {
                throw HttpError.badRequest("malformed JSON: unexpected content after the request object at " + Json.where(p));
            }
        } catch (IOException e) {
            throw Json.malformed(e);
        }
        if (drafts.isEmpty()) {
            throw HttpError.badRequest("the request has no inputs (\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}])");
        }
        Map<String, RequestTensor> inputs = new LinkedHashMap<>();
        int pos = headerLength;
        for (Draft d : drafts) {
            RequestTensor rt;
            if (d.binarySize >= 0) {
                if (d.binarySize > body.length - pos) {
                    throw HttpError.badRequest(d.label() + ": binary_data_size " + d.binarySize + " runs past the end of the body ("
                            + (body.length - pos) + " bytes left after the header and earlier inputs)");
                }
                rt = binary(d, body, pos, (int) d.binarySize);
                pos += (int) d.binarySize;
            } else {
                long n = RequestTensor.checkedSize(d.shape, maxElements, d.name);
                if (d.data.count() != n) {
                    throw HttpError.badRequest(d.label() + ": \"data\" has " + d.data.count() + " values, shape "
                            + Arrays.toString(d.shape) + " needs " + n);
                }
                rt = new RequestTensor(d.name, d.dtype, d.shape, d.data.data(), d.data.bytes());
            }
            if (inputs.put(d.name, rt) != null) {
                throw HttpError.badRequest("input '" + d.name + "' appears twice");
            }
        }
        if (pos != body.length) {
            throw HttpError.badRequest("the body has " + (body.length - pos) + " bytes after the JSON header"
                    + (pos > headerLength ? " and the binary data of the inputs" : "")
                    + " that no input claims (binary_data_size)");
        }
        return new Request(id, inputs, outputs, binaryOut);
    }

    private static Draft input(JsonParser p, int index, byte[] body, int headerLength, long maxElements,
                               Predicate<String> base64) throws IOException {
        Draft d = new Draft();
        d.index = index;
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw HttpError.badRequest("inputs[" + index + "] must be an object {\"name\", \"shape\", \"datatype\", \"data\"}");
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken t = p.nextToken();
            switch (f) {
                case "name" -> {
                    if (t != JsonToken.VALUE_STRING) {
                        throw HttpError.badRequest(d.label() + ": \"name\" must be a string");
                    }
                    d.name = p.getText();
                }
                case "datatype" -> {
                    if (t != JsonToken.VALUE_STRING) {
                        throw HttpError.badRequest(d.label() + ": \"datatype\" must be a string such as \"FP32\"");
                    }
                    d.dtype = Datatypes.parse(p.getText(), d.label());
                }
                case "shape" -> d.shape = shape(p, t, d.label());
                case "parameters" -> {
                    JsonNode n = object(p, t, d.label() + " parameters");
                    JsonNode size = n.get("binary_data_size");
                    if (size != null) {
                        if (!size.isIntegralNumber() || size.asLong() < 0 || size.asLong() > Integer.MAX_VALUE) {
                            throw HttpError.badRequest(d.label() + ": binary_data_size must be a non-negative integer");
                        }
                        d.binarySize = size.asLong();
                    }
                }
                case "data" -> {
                    if (d.dtype != null && d.name != null) {
                        d.data = JsonData.read(p, d.dtype, d.name, maxElements, d.dtype == DType.STRING && base64.test(d.name));
                    } else {
                        d.dataOffset = (int) p.currentTokenLocation().getByteOffset();
                        p.skipChildren();
                    }
                }
                default -> p.skipChildren();
            }
        }
        if (d.name == null) {
            throw HttpError.badRequest("inputs[" + index + "] has no \"name\"");
        }
        if (d.dtype == null) {
            throw HttpError.badRequest(d.label() + " has no \"datatype\" (FP32, INT64, BYTES, ...)");
        }
        if (d.shape == null) {
            throw HttpError.badRequest(d.label() + " has no \"shape\"");
        }
        RequestTensor.checkedSize(d.shape, maxElements, d.name);
        boolean hasData = d.data != null || d.dataOffset >= 0;
        if (hasData && d.binarySize >= 0) {
            throw HttpError.badRequest(d.label() + " has both \"data\" and a binary_data_size");
        }
        if (!hasData && d.binarySize < 0) {
            throw HttpError.badRequest(d.label() + " has no \"data\" (nor a binary_data_size for the binary extension)");
        }
        if (d.dataOffset >= 0) {
            try (JsonParser q = Json.parser(body, d.dataOffset, headerLength - d.dataOffset)) {
                q.nextToken();
                d.data = JsonData.read(q, d.dtype, d.name, maxElements, d.dtype == DType.STRING && base64.test(d.name));
            }
        }
        return d;
    }

    private static long[] shape(JsonParser p, JsonToken t, String label) throws IOException {
        if (t != JsonToken.START_ARRAY) {
            throw HttpError.badRequest(label + ": \"shape\" must be an array of non-negative integers");
        }
        long[] s = new long[8];
        int n = 0;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER || p.getLongValue() < 0) {
                throw HttpError.badRequest(label + ": \"shape\" must be an array of non-negative integers");
            }
            if (n == Json.MAX_DEPTH) {
                throw HttpError.badRequest(label + ": \"shape\" has more than " + Json.MAX_DEPTH + " dimensions");
            }
            if (n == s.length) {
                s = Arrays.copyOf(s, n * 2);
            }
            s[n++] = p.getLongValue();
        }
        return Arrays.copyOf(s, n);
    }

    private static JsonNode object(JsonParser p, JsonToken t, String what) throws IOException {
        if (t != JsonToken.START_OBJECT) {
            throw HttpError.badRequest("\"" + what + "\" must be an object");
        }
        return Json.MAPPER.readTree(p);
    }

    private static boolean flag(JsonNode n, String key, String where) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw HttpError.badRequest(where + "." + key + " must be true or false");
        }
        return v.asBoolean();
    }

    private static List<Requested> outputs(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.START_ARRAY) {
            throw HttpError.badRequest("\"outputs\" must be an array of {\"name\": ...}");
        }
        List<Requested> l = new ArrayList<>();
        JsonNode a = Json.MAPPER.readTree(p);
        for (JsonNode o : a) {
            if (!o.isObject() || !o.path("name").isTextual()) {
                throw HttpError.badRequest("\"outputs\" must be an array of {\"name\": ...}");
            }
            JsonNode params = o.get("parameters");
            boolean bin = params != null && params.isObject() && flag(params, "binary_data", "outputs[" + l.size() + "].parameters");
            l.add(new Requested(o.get("name").asText(), bin));
        }
        return l;
    }

    private static RequestTensor binary(Draft d, byte[] body, int pos, int size) {
        long n = RequestTensor.checkedSize(d.shape, Long.MAX_VALUE, d.name);
        if (d.dtype == DType.STRING) {
            List<byte[]> items = new ArrayList<>();
            ByteBuffer b = ByteBuffer.wrap(body, pos, size).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) {
                if (b.remaining() < 4) {
                    throw HttpError.badRequest(d.label() + ": binary BYTES data ends inside an element's 4-byte length");
                }
                int len = b.getInt();
                if (len < 0 || len > b.remaining()) {
                    throw HttpError.badRequest(d.label() + ": binary BYTES element " + items.size() + " has length "
                            + Integer.toUnsignedString(len) + ", past the end of its " + size + " bytes");
                }
                byte[] e = new byte[len];
                b.get(e);
                items.add(e);
            }
            if (items.size() != n) {
                throw HttpError.badRequest(d.label() + ": binary data holds " + items.size() + " BYTES elements, shape "
                        + Arrays.toString(d.shape) + " needs " + n);
            }
            return new RequestTensor(d.name, d.dtype, d.shape, null, items);
        }
        long want = n * d.dtype.byteSize();
        if (want != size) {
            throw HttpError.badRequest(d.label() + ": binary_data_size is " + size + " bytes, shape " + Arrays.toString(d.shape)
                    + " of " + Datatypes.v2(d.dtype) + " needs " + want);
        }
        return new RequestTensor(d.name, d.dtype, d.shape, Arrays.copyOfRange(body, pos, pos + size), null);
    }

    /** A response body and its content type and header length (for the binary extension). */
    record Response(byte[] body, String contentType, int headerLength, boolean binary) {}

    /**
     * The response: every output (or those asked for, in that order), binary where asked.
     *
     * @throws HttpError 400 when an output asked for does not exist
     */
    static Response response(String model, String version, String id, Map<String, Tensor> outs, List<Requested> requested,
                             boolean binaryAll) {
        List<Requested> which = new ArrayList<>();
        if (requested == null) {
            for (String n : outs.keySet()) {
                which.add(new Requested(n, binaryAll));
            }
        } else {
            for (Requested r : requested) {
                if (!outs.containsKey(r.name())) {
                    throw HttpError.badRequest("unknown output '" + r.name() + "'; the outputs are " + outs.keySet());
                }
                which.add(new Requested(r.name(), r.binary() || binaryAll));
            }
        }
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        boolean anyBinary = false;
        try (JsonGenerator g = Json.generator(json)) {
            g.writeStartObject();
            g.writeStringField("model_name", model);
            g.writeStringField("model_version", version);
            if (id != null) {
                g.writeStringField("id", id);
            }
            g.writeArrayFieldStart("outputs");
            for (Requested r : which) {
                Tensor t = outs.get(r.name());
                g.writeStartObject();
                g.writeStringField("name", r.name());
                g.writeStringField("datatype", Datatypes.v2(t.dtype()));
                g.writeArrayFieldStart("shape");
                for (long d : t.shape().dims()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                if (r.binary()) {
                    anyBinary = true;
                    g.writeObjectFieldStart("parameters");
                    g.writeNumberField("binary_data_size", TensorJson.binarySize(t));
                    g.writeEndObject();
                } else {
                    g.writeFieldName("data");
                    TensorJson.writeFlat(g, t);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        int headerLength = json.size();
        if (anyBinary) {
            for (Requested r : which) {
                if (r.binary()) {
                    TensorJson.writeBinary(json, outs.get(r.name()));
                }
            }
        }
        return new Response(json.toByteArray(), anyBinary ? "application/octet-stream" : "application/json", headerLength,
                anyBinary);
    }
}
