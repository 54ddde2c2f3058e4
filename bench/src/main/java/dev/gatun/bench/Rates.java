package dev.gatun.bench;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Secondary JMH results reported as rates: JMH divides each public field of an {@link AuxCounters} state by the
 * iteration's time, so in throughput mode (seconds) adding an operation's GFLOP to {@code gflop} reports GFLOP/s,
 * and adding {@code 100 * GFLOP / peak GFLOP/s} to {@code peakPct} reports the percent of the peak achieved.
 * JMH prints these rows with the unit "ops/s"; read them as GFLOP/s, GB/s and %.
 */
public final class Rates {
    private Rates() {}

    /** GFLOP/s and % of the machine's FP32 peak. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        /** GFLOP done; reported as GFLOP/s. */
        public double gflop;
        /** Reported as the percent of the peak achieved. */
        public double peakPct;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
            peakPct = 0;
        }

        /** One operation of {@code flops} floating-point operations against a peak of {@code peakGflops}. */
        void add(double flops, double peakGflops) {
            gflop += flops / 1e9;
            peakPct += 100 * flops / 1e9 / peakGflops;
        }
    }

    /** GB/s of memory traffic and % of the machine's DRAM bandwidth. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Bytes {
        /** GB moved; reported as GB/s. */
        public double gb;
        /** Reported as the percent of the bandwidth achieved. */
        public double peakPct;

        @Setup(Level.Iteration)
        public void reset() {
            gb = 0;
            peakPct = 0;
        }

        /** One operation moving {@code bytes} against a bandwidth of {@code peakGbps}. */
        void add(double bytes, double peakGbps) {
            gb += bytes / 1e9;
            peakPct += 100 * bytes / 1e9 / peakGbps;
        }
    }
}
