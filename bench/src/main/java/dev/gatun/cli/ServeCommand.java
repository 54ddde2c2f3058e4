package dev.gatun.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.gatun.server.GatunServer;
import dev.gatun.server.Json;
import dev.gatun.server.ServerConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code gatun serve}: the inference server. With no MODEL it serves the built-in all-MiniLM-L6-v2 as model
 * {@code minilm} with the text-embedding pipeline; with an .onnx file that model (version 1); with a folder a
 * Triton-layout model repository. Stops gracefully on SIGINT/SIGTERM.
 */
@Command(name = "serve", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class,
        sortOptions = false,
        description = {"Serve models over HTTP: KServe v2 (Open Inference Protocol) and /predict.",
                "",
                "MODEL is an .onnx file (served as version 1, named after the file), a model",
                "repository folder (REPO/<model>/<version>/model.onnx with an optional",
                "REPO/<model>/config.json), or nothing: the built-in all-MiniLM-L6-v2 as model",
                "'minilm' with the text-embedding pipeline, so that",
                "  curl -d '{\"text\":[\"hello world\"]}' localhost:8080/predict",
                "returns a 384-dim normalised embedding. Binds to 127.0.0.1 unless --host says",
                "otherwise. See the README's \"Serving\" section for endpoints, configuration and",
                "metrics.",
                ""},
        footer = {"", "Examples:", "  gatun serve", "  gatun serve model.onnx --port 9000 --threads 4",
                "  gatun serve models/ --poll --config gatun.json"})
final class ServeCommand extends GatunCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "An .onnx file, a repository folder, or nothing.")
    String model;

    @Option(names = "--port", paramLabel = "PORT", description = "Port (default 8080; 0 picks a free one).")
    Integer port;

    @Option(names = "--host", paramLabel = "HOST", description = "Address to bind (default 127.0.0.1).")
    String host;

    @Option(names = "--device", paramLabel = "DEVICE", description = "cpu or cuda (default cpu).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads per model, split between its instances"
            + " (default: all cores).")
    Integer threads;

    @Option(names = "--poll", description = "Watch the repository and load/unload versions as folders change.")
    boolean poll;

    @Option(names = "--name", paramLabel = "NAME", description = "Model name for a single .onnx file (default: the file name).")
    String name;

    @Option(names = "--config", paramLabel = "FILE", description = "Server configuration (JSON); options given here override it.")
    Path configFile;

    @Override
    int execute() throws IOException, InterruptedException {
        ServerConfig c;
        try {
            c = configFile == null ? new ServerConfig() : ServerConfig.read(configFile);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (port != null) {
            if (port < 0 || port > 65535) {
                throw new UsageException("--port " + port + ": must be in 0..65535");
            }
            c.port = port;
        }
        if (host != null) {
            c.host = host;
        }
        if (device != null) {
            if (!device.equals("cpu") && !device.matches("cuda(:\\d{1,3})?")) {
                throw new UsageException("--device " + device + ": must be cpu, cuda or cuda:N");
            }
            if (!device.equals("cpu")) {
                dev.gatun.engine.cuda.CudaSession.requireDevice(device.startsWith("cuda:") ? Integer.parseInt(device.substring(5)) : 0);
            }
            c.device = device;
        }
        if (threads != null) {
            if (threads < 1) {
                throw new UsageException("--threads " + threads + ": must be >= 1");
            }
            c.threads = threads;
        }
        c.poll |= poll;
        PrintWriter err = err();
        Path repository = null;
        GatunServer.ModelFile file = null;
        if (model == null || model.equals(ModelFiles.MINILM) && !Files.exists(Path.of(model))) {
            Path onnx = ModelFiles.resolve(ModelFiles.MINILM, err);
            Path tokenizer = ModelFiles.miniLmTokenizer(err);
            ObjectNode config = c.model != null && c.model.isObject() ? ((ObjectNode) c.model).deepCopy() : Json.object();
            if (!config.has("pipeline")) {
                config.putObject("pipeline").put("type", "text-embedding").put("tokenizer", tokenizer.getFileName().toString())
                        .put("max_length", 256);
            }
            file = new GatunServer.ModelFile(name == null ? ModelFiles.MINILM : name, onnx, config, onnx.getParent());
        } else {
            Path p = Path.of(model);
            if (!Files.exists(p)) {
                throw new UsageException(model + ": no such file or folder (MODEL is an .onnx file or a model repository)");
            }
            if (Files.isDirectory(p)) {
                if (name != null) {
                    throw new UsageException("--name applies to a single .onnx file, not to a repository");
                }
                repository = p;
            } else {
                String stem = p.getFileName().toString().replaceFirst("\\.onnx$", "").replaceAll("[^A-Za-z0-9_.-]", "_");
                file = new GatunServer.ModelFile(name == null ? stem : name, p, c.model, p.toAbsolutePath().getParent());
            }
        }
        if (c.poll && repository == null) {
            err.println("note: --poll watches a repository folder; serving a single file, it has no effect");
        }
        err.flush();
        GatunServer server;
        try {
            server = new GatunServer(c, repository, file == null ? List.of() : List.of(file));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Thread hook = new Thread(server::stop, "gatun-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        server.start();
        String base = "http://" + (c.host.contains(":") ? "[" + c.host + "]" : c.host) + ":" + server.port();
        out().println("gatun: serving " + base + (server.ready() ? "" : " (not ready: see the log above)"));
        if (file != null && file.name().equals(ModelFiles.MINILM) && repository == null) {
            out().println("try:   curl -d '{\"text\":[\"hello world\"]}' " + base + "/predict");
        }
        out().flush();
        server.awaitStop();
        return 0;
    }
}
