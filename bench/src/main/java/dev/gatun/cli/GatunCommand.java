package dev.gatun.cli;

import dev.gatun.engine.EngineException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * Shared error reporting for the subcommands: whatever goes wrong becomes one line {@code gatun: <message>}
 * on stderr (the stack trace too with {@code --verbose}) and an exit code: 2 for {@link UsageException},
 * 1 for everything else. This lives in the commands, not in a picocli handler, so that a plain
 * {@code new CommandLine(new Gatun())} behaves the same as {@code gatun}.
 */
abstract class GatunCommand implements Callable<Integer> {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @ParentCommand
    Gatun parent;

    /** The command's work; returns the exit code. */
    abstract int execute() throws Exception;

    @Override
    public final Integer call() {
        try {
            return execute();
        } catch (UsageException e) {
            return fail(e, CommandLine.ExitCode.USAGE);
        } catch (EngineException e) {
            return fail(e, 1);
        } catch (OutOfMemoryError e) {
            return fail(new RuntimeException("out of memory (" + e.getMessage() + "); give the JVM more with -Xmx", e), 1);
        } catch (Exception | StackOverflowError e) {
            return fail(e, 1);
        } finally {
            out().flush();
            err().flush();
        }
    }

    private int fail(Throwable e, int code) {
        PrintWriter err = err();
        err.println("gatun: " + message(e));
        if (verbose()) {
            e.printStackTrace(err);
        }
        return code;
    }

    /** The exception's message; the class name as well for exceptions that are not ours (they are bugs or I/O). */
    static String message(Throwable e) {
        if (e instanceof EngineException || e instanceof UsageException) {
            return e.getMessage();
        }
        String m = e.getMessage();
        String what = e.getClass().getSimpleName();
        if (e.getClass().getName().startsWith("ai.onnxruntime")) {
            return "onnxruntime: " + m;
        }
        return m == null ? what : what + ": " + m;
    }

    boolean verbose() {
        return parent != null && parent.verbose;
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
