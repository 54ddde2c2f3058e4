package dev.gatun.cli;

/** A mistake in the command's arguments (a missing file, an unknown input name): exit code 2. */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }
}
