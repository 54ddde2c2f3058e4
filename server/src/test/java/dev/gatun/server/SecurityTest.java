package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.type.TypeFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The security review's items, each as a test (SECURITY.md names them): repository and pipeline files confined to
 * their folders (symlinks resolved), request names never reaching the file system, the admin API off by default,
 * tokens compared in constant time, request JSON read as a tree only (no class binding, no polymorphic typing).
 */
class SecurityTest {
    @TempDir
    Path repo;
    @TempDir
    Path outside;

    @Test
    void repositoryEntriesThatLinkOutsideTheRepositoryAreNotServed() throws Exception {
        TestModels.write(repo, "good", 1, TestModels.add(4, 1));
        // a model file, a version folder and a model folder, each a symlink to a model outside the repository
        Path elsewhere = TestModels.write(outside, "secret", 1, TestModels.add(4, 100));
        Files.createDirectories(repo.resolve("linkfile").resolve("1"));
        Files.createSymbolicLink(repo.resolve("linkfile").resolve("1").resolve("model.onnx"), elsewhere);
        Files.createDirectories(repo.resolve("linkversion"));
        Files.createSymbolicLink(repo.resolve("linkversion").resolve("1"), elsewhere.getParent());
        Files.createSymbolicLink(repo.resolve("linkmodel"), elsewhere.getParent().getParent());
        // a symlink that stays inside the repository is fine
        Files.createDirectories(repo.resolve("alias"));
        Files.createSymbolicLink(repo.resolve("alias").resolve("1"), repo.resolve("good").resolve("1"));
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            assertEquals(200, s.post("/v2/models/good/infer", ServerRepositoryTest.addRequest(1)).status());
            assertEquals(200, s.post("/v2/models/alias/infer", ServerRepositoryTest.addRequest(1)).status());
            for (String m : new String[] {"linkfile", "linkversion", "linkmodel"}) {
                var r = s.post("/v2/models/" + m + "/infer", ServerRepositoryTest.addRequest(1));
                assertEquals(503, r.status(), m + ": " + r.text());
                assertTrue(r.error().contains("no version folders"), r.error());
            }
        }
    }

    @Test
    void pipelineFilesAreConfinedToTheModelFolder() throws Exception {
        StubPipeline.register();
        Files.writeString(outside.resolve("tokenizer.json"), "{}");
        String[][] cases = {
            {"abs", outside.resolve("tokenizer.json").toString(), "is absolute"},
            {"climb", "../../" + outside.getFileName() + "/tokenizer.json", "escapes the model's folder"},
            {"link", "tok.json", "resolves (through a symlink) outside the model's folder"},
        };
        for (String[] c : cases) {
            TestModels.write(repo, c[0], 1, TestModels.identity(TestModels.FLOAT, 4));
            TestModels.config(repo, c[0], "{\"pipeline\": {\"type\": \"text-embedding\", \"tokenizer\": \"" + c[1] + "\"}}");
        }
        Files.createSymbolicLink(repo.resolve("link").resolve("tok.json"), outside.resolve("tokenizer.json"));
        Files.writeString(outside.resolve("admin"), "a\n");
        ServerConfig config = TestServer.config();
        config.adminEnabled = true;
        config.adminTokensFile = outside.resolve("admin");
        try (TestServer s = new TestServer(config, repo, List.of())) {
            String idx = s.get("/v2/repository/index", "Authorization", "Bearer a").json().toString();
            for (String[] c : cases) {
                assertTrue(idx.contains("{\"name\":\"" + c[0] + "\",\"version\":\"1\",\"state\":\"UNAVAILABLE\""), idx);
                assertTrue(idx.contains("option 'tokenizer' '" + c[1] + "' " + c[2]), c[0] + ": " + idx);
            }
        }
    }

    @Test
    void requestNamesNeverReachTheFileSystem() throws Exception {
        TestModels.write(repo, "m", 1, TestModels.add(4, 1));
        Files.writeString(outside.resolve("admin"), "a\n");
        ServerConfig config = TestServer.config();
        config.adminEnabled = true;
        config.adminTokensFile = outside.resolve("admin");
        try (TestServer s = new TestServer(config, repo, List.of())) {
            for (String name : new String[] {"..", "..%2F..%2Fetc", "%2e%2e", ".hidden", "m%00", "m%2F1"}) {
                int status = s.post("/v2/models/" + name + "/infer", ServerRepositoryTest.addRequest(1)).status();
                assertTrue(status == 404 || status == 400, name + " -> " + status);
                int load = s.post("/v2/repository/models/" + name + "/load", "", "Authorization", "Bearer a").status();
                assertTrue(load == 404 || load == 400, name + " -> " + load);
            }
            assertEquals(400, s.post("/v2/models/m/versions/..%2F1/infer", ServerRepositoryTest.addRequest(1)).status());
            assertFalse(ModelRepository.NAME.matcher("..").matches());
            assertFalse(ModelRepository.NAME.matcher("a/b").matches());
            assertFalse(ModelRepository.NAME.matcher("a\\b").matches());
        }
    }

    @Test
    void theAdminApiIsOffByDefault() throws Exception {
        TestModels.write(repo, "m", 1, TestModels.add(4, 1));
        ServerConfig config = TestServer.config();
        assertFalse(config.adminEnabled);
        try (TestServer s = new TestServer(config, repo, List.of())) {
            assertEquals(404, s.get("/v2/repository/index").status());
            assertEquals(404, s.post("/v2/repository/models/m/unload", "").status());
            assertEquals(404, s.post("/v2/repository/models/m/load", "").status());
            assertFalse(s.get("/v2").text().contains("model_repository"));
            assertEquals(200, s.post("/v2/models/m/infer", ServerRepositoryTest.addRequest(1)).status());
        }
    }

    @Test
    void tokensAreComparedInConstantTimeAsDigests() throws Exception {
        Auth auth = new Auth(List.of("user-secret"), List.of("admin-secret"));
        auth.check("Bearer user-secret", false);
        auth.check("Bearer admin-secret", true);
        for (String bad : new String[] {"Bearer user-secre", "Bearer user-secretX", "Bearer USER-SECRET", "Bearer ", "Basic x"}) {
            assertEquals(401, assertThrowsHttp(() -> auth.check(bad, false)), bad);
        }
        assertEquals(401, assertThrowsHttp(() -> auth.check("Bearer user-secret", true)), "a user token is no admin token");
        // the comparison itself: digests through MessageDigest.isEqual, every configured token compared, no early exit
        String src = source("server/src/main/java/dev/gatun/server/Auth.java");
        assertTrue(src.contains("MessageDigest.isEqual(t, d)"), "constant-time comparison");
        assertTrue(src.contains("ok |= MessageDigest.isEqual"), "no early exit");
        assertFalse(Pattern.compile("\\.equals\\((token|d|t)\\)").matcher(src).find(), "no String/array equals on tokens");
    }

    static int assertThrowsHttp(Runnable r) {
        try {
            r.run();
        } catch (HttpError e) {
            return e.status();
        }
        return 200;
    }

    @Test
    void requestJsonIsReadAsATreeWithoutPolymorphicTyping() throws Exception {
        // the one mapper: no default typing for any type, so no JSON content can name a class to instantiate
        TypeFactory tf = Json.MAPPER.getTypeFactory();
        for (JavaType t : new JavaType[] {tf.constructType(Object.class), tf.constructType(java.io.Serializable.class),
            tf.constructType(List.class)}) {
            assertNull(Json.MAPPER.getDeserializationConfig().getDefaultTyper(t), t.toString());
            assertNull(Json.MAPPER.getSerializationConfig().getDefaultTyper(t), t.toString());
        }
        // a classic gadget payload is data, not a class: refused as a malformed request, never instantiated
        TestModels.write(repo, "m", 1, TestModels.add(4, 1));
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            var r = s.post("/v2/models/m/infer", "{\"inputs\": [\"java.lang.ProcessBuilder\", {\"command\": [\"touch\", \""
                    + outside.resolve("pwned") + "\"]}], \"@class\": \"java.lang.ProcessBuilder\"}");
            assertEquals(400, r.status(), r.text());
            var p = s.post("/predict/m", "{\"inputs\": {\"x\": {\"@class\": \"java.net.URL\", \"val\": \"http://127.0.0.1:1\"}}}");
            assertEquals(400, p.status(), p.text());
            assertFalse(Files.exists(outside.resolve("pwned")));
        }
        // and no source binds JSON to classes, turns typing on, or deserializes Java objects
        Pattern forbidden = Pattern.compile("readValue\\(|treeToValue\\(|activateDefaultTyping|enableDefaultTyping"
                + "|@JsonTypeInfo|ObjectInputStream|XMLDecoder|Class\\.forName");
        List<String> hits = new ArrayList<>();
        for (String module : new String[] {"server", "engine", "bench"}) {
            try (Stream<Path> files = Files.walk(root().resolve(module).resolve("src/main/java"))) {
                for (Path f : files.filter(x -> x.toString().endsWith(".java")).toList()) {
                    String[] lines = Files.readString(f).split("\n");
                    for (int i = 0; i < lines.length; i++) {
                        // JsonData's own streaming reader is named readValue(JsonParser); it binds nothing
                        if (forbidden.matcher(lines[i]).find() && !lines[i].contains("readValue(p)")
                                && !lines[i].contains("long[] readValue(JsonParser p)")
                                && !lines[i].contains("ConformanceRunner") && !f.endsWith("ConformanceRunner.java")) {
                            hits.add(root().relativize(f) + ":" + (i + 1) + ": " + lines[i].strip());
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), hits);
    }

    static Path root() {
        return Path.of(System.getProperty("gatun.root.dir", ".."));
    }

    static String source(String rel) throws IOException {
        return Files.readString(root().resolve(rel));
    }
}
