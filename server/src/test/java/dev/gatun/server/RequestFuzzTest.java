package dev.gatun.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the request decoders a client reaches with any body: the KServe v2 JSON request and its binary tensor
 * extension ({@link V2Codec}, with {@link JsonData} and {@link RequestTensor}), and the {@code /predict} format
 * ({@link PredictCodec}). Each decoded request is turned into engine tensors and encoded back as a response
 * ({@link TensorJson}), as the server does with a model's outputs. The only exception allowed out is a 4xx
 * {@link HttpError}; anything else (a 5xx, an index out of bounds, an out-of-memory from a declared size, a stack
 * overflow from nesting) is a finding.
 *
 * <p>Seed format for {@link #v2}: a body whose JSON is the whole request, or {@code N\n} followed by a binary-extension
 * body whose first N bytes are the JSON header (N is what the client sends as {@code Inference-Header-Content-Length}).
 */
class RequestFuzzTest {
    /** Small enough that the fuzzer reaches the limit, large enough for real tensors. */
    private static final long MAX_ELEMENTS = 1 << 16;
    private static final Map<String, DType> MODEL_INPUTS = Map.of("x", DType.FLOAT, "ids", DType.INT64, "mask", DType.BOOL,
            "s", DType.STRING, "h", DType.FLOAT16, "u", DType.UINT64, "b", DType.UINT8);

    @FuzzTest(maxDuration = "10m")
    void v2(byte[] data) {
        int headerLength = -1;
        byte[] body = data;
        int nl = indexOf(data, (byte) '\n');
        if (nl > 0 && nl <= 10 && allDigits(data, nl)) {
            headerLength = (int) Math.min(Integer.MAX_VALUE, Long.parseLong(new String(data, 0, nl, StandardCharsets.US_ASCII)));
            body = Arrays.copyOfRange(data, nl + 1, data.length);
        }
        try {
            V2Codec.Request req = V2Codec.parse(body, headerLength < 0 ? body.length : headerLength, MAX_ELEMENTS,
                    name -> name.equals("image"));
            Map<String, Tensor> tensors = tensors(req.inputs());
            V2Codec.Response r = V2Codec.response("m", "1", req.id(), tensors, req.outputs(), req.binaryOutputs());
            if (r.headerLength() < 0 || r.headerLength() > r.body().length) {
                throw new AssertionError("response header length " + r.headerLength() + " of " + r.body().length);
            }
        } catch (HttpError e) {
            checkClientError(e);
        }
    }

    @FuzzTest(maxDuration = "10m")
    void predict(byte[] data) {
        String inputs = MODEL_INPUTS.keySet().toString();
        for (boolean images : new boolean[] {false, true}) {
            try {
                PredictCodec.Request req = PredictCodec.parse(data, MAX_ELEMENTS, MODEL_INPUTS::get, inputs,
                        images ? "image" : "text", images);
                if (req.inputs() != null) {
                    Map<String, Tensor> tensors = tensors(req.inputs());
                    PredictCodec.response("m", "1", tensors, req.outputs(), 1.0);
                }
            } catch (HttpError e) {
                checkClientError(e);
            }
        }
    }

    /** The engine tensors of the decoded inputs; every element is read, as a model would. */
    private static Map<String, Tensor> tensors(Map<String, RequestTensor> inputs) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (RequestTensor rt : inputs.values()) {
            Tensor t = rt.toTensor();
            long n = t.size();
            if (n != rt.elements()) {
                throw new AssertionError("tensor " + t.shape() + " from request shape " + Arrays.toString(rt.shape()));
            }
            if (t.dtype() != DType.STRING && n > 0) {
                t.getDouble(n - 1);
            }
            m.put(rt.name(), t);
        }
        return m;
    }

    private static void checkClientError(HttpError e) {
        if (e.status() < 400 || e.status() > 499 || e.getMessage() == null || e.getMessage().isBlank()) {
            throw new AssertionError("a malformed request must be a 4xx with a message, got " + e.status() + ": " + e.getMessage(), e);
        }
    }

    private static int indexOf(byte[] b, byte c) {
        for (int i = 0; i < Math.min(b.length, 12); i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return -1;
    }

    private static boolean allDigits(byte[] b, int n) {
        for (int i = 0; i < n; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return false;
            }
        }
        return true;
    }

    static List<String> names() {
        return List.copyOf(MODEL_INPUTS.keySet());
    }
}
