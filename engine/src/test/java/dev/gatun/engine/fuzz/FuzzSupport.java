package dev.gatun.engine.fuzz;

import dev.gatun.engine.EngineException;

/** What every fuzz target checks of the error it was given. */
final class FuzzSupport {
    private FuzzSupport() {}

    /** An EngineException must say what went wrong: a message of some substance. */
    static void checkMessage(EngineException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            throw new AssertionError("EngineException " + e.kind() + " without a message", e);
        }
    }
}
