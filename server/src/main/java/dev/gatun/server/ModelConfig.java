package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Set;
import java.util.TreeSet;

/**
 * A model's {@code config.json} (Triton's names where they exist), every key optional:
 * <pre>{@code
 * {
 *   "max_batch_size": 32,                       // 0: no server batching; absent: on when every input's first dim is symbolic
 *   "dynamic_batching": {"max_queue_delay_microseconds": 1000, "max_queue_size": 256},
 *   "instance_group": [{"count": 2, "kind": "KIND_CPU"}],   // or "instances": 2
 *   "threads": 1,                               // intra-op threads per instance (instances x threads <= cores)
 *   "device": "cpu",
 *   "version_policy": {"latest": {"num_versions": 1}},   // or {"all": {}} or {"specific": {"versions": [1, 3]}}
 *   "input": [{"name": "input_ids", "dims": [16]}],      // dims for warm-up (without the batch dim when batching)
 *   "pipeline": {"type": "text-embedding", "tokenizer": "tokenizer.json", "max_length": 256},
 *   "warmup": true, "warmup_runs": 10
 * }
 * }</pre>
 *
 * @param maxBatchSize     rows per merged run; null: decided from the model
 * @param maxQueueDelayUs  longest a batch waits for requests already received to join it
 * @param maxQueueSize     requests waiting per model version before 503
 * @param instances        sessions per version; null: decided from the cores
 * @param threads          intra-op threads per session; null: cores / instances
 * @param device           {@code cpu}, {@code cuda} or {@code cuda:N} (cpu: the server's device)
 * @param policy           which versions to serve
 * @param warmupDims       per input, dims for the warm-up run (without batch dim when batching)
 * @param pipeline         the pipeline's settings, or null
 * @param warmup           run every instance before the version is ready
 * @param warmupRuns       warm-up runs of the first instance (the JIT compiles the kernels meanwhile; later instances
 *                         share the compiled code and run twice)
 */
public record ModelConfig(Integer maxBatchSize, long maxQueueDelayUs, int maxQueueSize, Integer instances, Integer threads,
                          String device, VersionPolicy policy, Map<String, long[]> warmupDims, JsonNode pipeline,
                          boolean warmup, int warmupRuns) {
    public static final long DEFAULT_QUEUE_DELAY_US = 1000;
    public static final int DEFAULT_QUEUE_SIZE = 256;

    /** The configuration of a model folder without {@code config.json}. */
    public static ModelConfig defaults() {
        return parse(Json.object(), "config.json");
    }

    /** Parses a config object; mistakes are IllegalArgumentExceptions naming {@code where} and the key. */
    public static ModelConfig parse(JsonNode node, String where) {
        ConfigReader r = new ConfigReader(node, where).only("name", "platform", "backend", "max_batch_size", "dynamic_batching",
                "instance_group", "instances", "threads", "device", "version_policy", "input", "output", "pipeline", "warmup", "warmup_runs");
        Integer maxBatch = r.has("max_batch_size") ? r.integer("max_batch_size", 0, 0, 1 << 20) : null;
        ConfigReader db = r.object("dynamic_batching").only("max_queue_delay_microseconds", "max_queue_delay_us",
                "max_queue_size", "preferred_batch_size");
        long delay = db.number("max_queue_delay_microseconds", db.number("max_queue_delay_us", DEFAULT_QUEUE_DELAY_US, 0,
                60_000_000), 0, 60_000_000);
        int queue = db.integer("max_queue_size", DEFAULT_QUEUE_SIZE, 1, 1 << 20);
        Integer instances = r.has("instances") ? r.integer("instances", 1, 1, 1024) : null;
        JsonNode groups = r.raw("instance_group");
        if (groups != null && !groups.isNull()) {
            if (!groups.isArray()) {
                throw new IllegalArgumentException(where + ".instance_group: expected an array");
            }
            int total = 0;
            for (int i = 0; i < groups.size(); i++) {
                ConfigReader g = new ConfigReader(groups.get(i), where + ".instance_group[" + i + "]").only("count", "kind", "name");
                String kind = g.string("kind", "KIND_CPU");
                if (!kind.equals("KIND_CPU") && !kind.equals("KIND_AUTO")) {
                    throw new IllegalArgumentException(where + ".instance_group[" + i + "].kind: '" + kind
                            + "' is not available in this build (KIND_CPU, KIND_AUTO)");
                }
                total += g.integer("count", 1, 1, 1024);
            }
            instances = total;
        }
        Integer threads = r.has("threads") ? r.integer("threads", 1, 1, 4096) : null;
        String device = r.string("device", "cpu");
        checkDevice(device, where + ".device");
        VersionPolicy policy = VersionPolicy.parse(r.object("version_policy"));
        Map<String, long[]> dims = new HashMap<>();
        JsonNode inputs = r.raw("input");
        if (inputs != null && !inputs.isNull()) {
            if (!inputs.isArray()) {
                throw new IllegalArgumentException(where + ".input: expected an array");
            }
            for (int i = 0; i < inputs.size(); i++) {
                ConfigReader in = new ConfigReader(inputs.get(i), where + ".input[" + i + "]")
                        .only("name", "dims", "data_type", "datatype", "format");
                String name = in.string("name", null);
                if (name == null) {
                    throw new IllegalArgumentException(in.where() + ".name: missing");
                }
                List<Long> d = in.longs("dims");
                dims.put(name, d.stream().mapToLong(Long::longValue).map(x -> x < 0 ? 1 : x).toArray());
            }
        }
        JsonNode pipeline = r.raw("pipeline");
        if (pipeline != null && pipeline.isNull()) {
            pipeline = null;
        }
        if (pipeline != null && (!pipeline.isObject() || !pipeline.path("type").isTextual())) {
            throw new IllegalArgumentException(where + ".pipeline: expected an object with a string \"type\"");
        }
        return new ModelConfig(maxBatch, delay, queue, instances, threads, device, policy, Map.copyOf(dims), pipeline,
                r.bool("warmup", true), r.integer("warmup_runs", 10, 1, 10_000));
    }

    /** Refuses devices Gatun does not have (cpu, cuda, cuda:N); whether a CUDA device is present is checked at load. */
    public static void checkDevice(String device, String where) {
        if (!device.equals("cpu") && !device.matches("cuda(:\\d{1,3})?")) {
            throw new IllegalArgumentException(where + ": device '" + device + "' is not available (cpu, cuda or cuda:N)");
        }
    }

    /**
     * Which versions of a model are served (Triton's version policy).
     *
     * @param kind     {@code latest}, {@code all} or {@code specific}
     * @param latest   how many of the highest versions, for {@code latest}
     * @param versions the versions, for {@code specific}
     */
    public record VersionPolicy(String kind, int latest, Set<Long> versions) {
        static VersionPolicy parse(ConfigReader r) {
            r.only("latest", "all", "specific");
            if (r.has("all")) {
                return new VersionPolicy("all", 0, Set.of());
            }
            if (r.has("specific")) {
                ConfigReader s = r.object("specific").only("versions");
                return new VersionPolicy("specific", 0, Set.copyOf(s.longs("versions")));
            }
            int n = r.object("latest").only("num_versions").integer("num_versions", 1, 1, 1 << 20);
            return new VersionPolicy("latest", n, Set.of());
        }

        /** The versions to serve out of those present. */
        public NavigableSet<Long> select(Set<Long> present) {
            TreeSet<Long> all = new TreeSet<>(present);
            return switch (kind) {
                case "all" -> all;
                case "specific" -> {
                    all.retainAll(versions);
                    yield all;
                }
                default -> {
                    TreeSet<Long> l = new TreeSet<>();
                    for (Long v : all.descendingSet()) {
                        if (l.size() == latest) {
                            break;
                        }
                        l.add(v);
                    }
                    yield l;
                }
            };
        }
    }
}
