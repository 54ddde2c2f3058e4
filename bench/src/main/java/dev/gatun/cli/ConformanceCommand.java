package dev.gatun.cli;

import dev.gatun.engine.conformance.ConformanceRunner;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code gatun conformance}: runs ONNX backend test folders and reports failures, skips and the counts. */
@Command(name = "conformance", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class,
        description = {"Run ONNX backend tests (node tests) on Gatun.",
                "",
                "Runs the tests under DIR (folders with model.onnx and test_data_set_N/,",
                "searched recursively, or light_*.onnx models) and compares with ONNX's",
                "rule |a - e| <= 1e-7 + 1e-3 * |e|. Prints one line per failing or skipped",
                "test with its reason, then 'N passed, N failed, N skipped'. Tests that use",
                "something Gatun does not support are skipped. Exit code 0 when nothing",
                "failed, 1 otherwise.",
                ""},
        footer = {"", "Example:", "  gatun conformance onnx-tests/node --filter 'test_(add|sub)(_.*)?$'"})
final class ConformanceCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "DIR", description = "Folder holding the tests.")
    Path dir;

    @picocli.CommandLine.Mixin
    DeviceOptions devices;

    @Option(names = "--filter", paramLabel = "REGEX", description = "Only tests whose folder name contains a match of REGEX.")
    String filter;

    @Override
    int execute() {
        dev.gatun.engine.SessionOptions options = devices.options(1);
        if (!Files.isDirectory(dir)) {
            throw new UsageException(dir + ": no such directory");
        }
        Pattern p;
        try {
            p = filter == null ? null : Pattern.compile(filter);
        } catch (PatternSyntaxException e) {
            throw new UsageException("--filter: bad regular expression: " + e.getDescription() + " in '" + filter + "'");
        }
        PrintWriter out = out();
        ConformanceRunner.Summary s = ConformanceRunner.run(dir, p, options, o -> {
            if (o.status() != ConformanceRunner.Status.PASS) {
                out.println(o.status() + " " + o.name() + ": " + oneLine(o.reason()));
                out.flush();
            }
        });
        out.println(s.line());
        return s.count(ConformanceRunner.Status.FAIL) == 0 ? 0 : 1;
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ');
    }
}
