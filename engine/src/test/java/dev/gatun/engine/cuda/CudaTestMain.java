package dev.gatun.engine.cuda;

import java.io.PrintWriter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.junit.platform.engine.discovery.DiscoverySelectors;

/**
 * Runs the CUDA tests (package dev.gatun.engine.cuda, tag "cuda" plus the untagged CUDA unit tests) without Maven, on
 * the GPU machine: {@code java -cp TEST_CLASSES:JARS dev.gatun.engine.cuda.CudaTestMain}. Prints JUnit's summary with
 * every failure; exits 1 when a test failed or none ran.
 */
public final class CudaTestMain {
    private CudaTestMain() {}

    public static void main(String[] args) {
        LauncherDiscoveryRequest req = LauncherDiscoveryRequestBuilder.request()
                .selectors(DiscoverySelectors.selectPackage("dev.gatun.engine.cuda"))
                .filters(TagFilter.includeTags(args.length > 0 ? args[0] : "cuda | !cuda"))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(req, listener);
        TestExecutionSummary s = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printTo(out);
        s.printFailuresTo(out, 30);
        System.exit(s.getTotalFailureCount() == 0 && s.getTestsSucceededCount() > 0 ? 0 : 1);
    }
}
