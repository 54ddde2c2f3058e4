package dev.gatun.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Bearer-token access control. Tokens come from a file (one per line; blank lines and {@code #} comments
 * skipped) and/or an environment variable (comma separated). Only SHA-256 digests are kept, and a presented
 * token is compared with every configured one by {@link MessageDigest#isEqual} (constant time), without an early
 * exit. With no inference tokens, inference and metadata are open; admin endpoints always need an admin token
 * (admin tokens are accepted everywhere).
 */
final class Auth {
    private final List<byte[]> tokens;
    private final List<byte[]> adminTokens;

    Auth(List<String> tokens, List<String> adminTokens) {
        this.tokens = tokens.stream().map(Auth::digest).toList();
        this.adminTokens = adminTokens.stream().map(Auth::digest).toList();
    }

    /** The tokens a configuration names (files and environment variables). */
    static Auth from(ServerConfig c) throws IOException {
        return new Auth(read(c.tokensFile, c.tokensEnv), read(c.adminTokensFile, c.adminTokensEnv));
    }

    private static List<String> read(Path file, String env) throws IOException {
        List<String> l = new ArrayList<>();
        if (file != null) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String t = line.strip();
                if (!t.isEmpty() && !t.startsWith("#")) {
                    l.add(t);
                }
            }
            if (l.isEmpty()) {
                throw new IOException(file + ": holds no tokens");
            }
        }
        String v = env == null || env.isBlank() ? null : System.getenv(env);
        if (v != null) {
            for (String t : v.split(",")) {
                if (!t.isBlank()) {
                    l.add(t.strip());
                }
            }
        }
        return l;
    }

    /** Whether inference and metadata need a token. */
    boolean enabled() {
        return !tokens.isEmpty();
    }

    boolean hasAdminTokens() {
        return !adminTokens.isEmpty();
    }

    /**
     * Checks the {@code Authorization: Bearer TOKEN} header.
     *
     * @throws HttpError 401 with {@code WWW-Authenticate} when the token is missing or wrong
     */
    void check(String authorization, boolean admin) {
        if (!admin && !enabled()) {
            return;
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new HttpError(401, "missing bearer token: send 'Authorization: Bearer <token>'"
                    + (admin ? " with an admin token" : ""), Map.of("WWW-Authenticate", "Bearer realm=\"gatun\""));
        }
        byte[] d = digest(authorization.substring(7).strip());
        boolean ok = matches(adminTokens, d);
        if (!admin) {
            ok |= matches(tokens, d);
        }
        if (!ok) {
            throw new HttpError(401, admin ? "invalid admin token" : "invalid bearer token",
                    Map.of("WWW-Authenticate", "Bearer realm=\"gatun\", error=\"invalid_token\""));
        }
    }

    private static boolean matches(List<byte[]> set, byte[] d) {
        boolean ok = false;
        for (byte[] t : set) {
            ok |= MessageDigest.isEqual(t, d);
        }
        return ok;
    }

    private static byte[] digest(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
