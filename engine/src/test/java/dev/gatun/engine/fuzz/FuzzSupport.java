package dev.gatun.engine.fuzz;

import dev.gatun.engine.EngineException;

/** What every fuzz target checks of the error it was given. */
final class FuzzSupport {
    private FuzzSupport() {}

    /**
     * Strict (the default; {@code -Dgatun.fuzz.strict=false} turns it off): an EngineException that wraps a JVM
     * exception (a kernel's index out of bounds, null pointer, arithmetic overflow, which the engine turns into an
     * error naming the node as a safety net) counts as a finding too: the code should have checked first.
     */
    static final boolean STRICT = !"false".equals(System.getProperty("gatun.fuzz.strict"));

    /** An EngineException must say what went wrong: a message of some substance. */
    static void checkMessage(EngineException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            throw new AssertionError("EngineException " + e.kind() + " without a message", e);
        }
        if (STRICT && e.getCause() != null && !(e.getCause() instanceof EngineException)
                && (e.getCause() instanceof RuntimeException || e.getCause() instanceof Error)) {
            throw new AssertionError("a JVM exception surfaced through the engine: " + m, e);
        }
    }
}
