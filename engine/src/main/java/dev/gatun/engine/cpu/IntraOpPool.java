package dev.gatun.engine.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A session's intra-op threads: {@code threads - 1} workers plus the calling thread share the tasks of one
 * {@link #parallelFor} at a time. Built for the many short parallel regions of an inference run (a BERT layer
 * at batch 1 has dozens of 10-100 us regions), so a region costs no allocation and, between the regions of one
 * run, no system call:
 * <ul>
 *   <li>one region state, reused: {@code state} holds the region's generation (high 32 bits) and the next
 *       unclaimed task (low 32 bits); a task is claimed by a compare-and-set that also checks the generation, so
 *       a worker late from an earlier region can never claim a task of the next one;</li>
 *   <li>workers spin on {@code state} for {@link #IDLE_SPIN_NANOS} after their last region (the serial nodes
 *       between two parallel ones), then park; {@link #rest()} (the end of a run) parks them at once, so that
 *       an idle session burns no CPU;</li>
 *   <li>the caller unparks only workers that announced they park (a volatile flag written before the last
 *       check of {@code state}: no lost wake-up), and a worker unparks the caller only if it waits parked.</li>
 * </ul>
 * Tasks are claimed dynamically (a descheduled thread delays only the tasks it holds) and the caller works
 * instead of waiting. Never the common ForkJoinPool: a server running several sessions gets exactly the
 * threads it configured.
 */
public final class IntraOpPool implements AutoCloseable {
    /** How long an idle worker spins for the next region before it parks. */
    static final long IDLE_SPIN_NANOS = 1_000_000;
    /** How long the caller spins for the workers' last tasks before it parks. */
    private static final long WAIT_SPIN_NANOS = 100_000;
    /** The low half of {@code state} once a region is over: no task can be claimed any more. */
    private static final long CLOSED = Integer.MAX_VALUE;

    private static final class Worker extends Thread {
        volatile boolean parked;

        Worker(Runnable loop, String name) {
            super(loop, name);
        }
    }

    private final int threads;
    private final Worker[] workers;
    private final AtomicLong state = new AtomicLong(CLOSED);
    private final AtomicInteger done = new AtomicInteger();
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile int count;
    private volatile Throwable failure;
    private volatile boolean resting;
    private volatile boolean callerParked;
    private volatile boolean closed;
    /** The region's body and caller: written before {@code state} publishes the region, read after a claim. */
    private IntConsumer body;
    private Thread caller;

    public IntraOpPool(int threads, String name) {
        this.threads = Math.max(1, threads);
        this.workers = new Worker[this.threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Worker w = new Worker(this::loop, "gatun-intraop-" + name + "-" + (i + 1));
            w.setDaemon(true);
            workers[i] = w;
        }
        for (Worker w : workers) {
            w.start();
        }
    }

    public int threads() {
        return threads;
    }

    /** The worker threads' ids (not the callers'), for per-thread accounting such as allocated bytes. */
    public long[] workerThreadIds() {
        long[] ids = new long[workers.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = workers[i].threadId();
        }
        return ids;
    }

    /**
     * Runs {@code body.accept(i)} for every i in [0, n), spread over the pool and the calling thread; returns when
     * all are done. An exception thrown by a task is rethrown here (the remaining tasks are skipped).
     * A call made while a region is running (a task calling parallelFor, or a second thread) runs its loop
     * inline on the calling thread.
     */
    public void parallelFor(int n, IntConsumer body) {
        if (n <= 0) {
            return;
        }
        if (n == 1 || workers.length == 0 || closed || !busy.compareAndSet(false, true)) {
            for (int i = 0; i < n; i++) {
                body.accept(i);
            }
            return;
        }
        Throwable t;
        try {
            this.body = body;
            this.caller = Thread.currentThread();
            failure = null;
            done.set(0);
            count = n;
            if (resting) {
                resting = false;
            }
            long gen = (state.get() >>> 32) + 1;
            state.set(gen << 32);
            for (Worker w : workers) {
                if (w.parked) {
                    LockSupport.unpark(w);
                }
            }
            work(gen);
            awaitDone(n);
            state.set(gen << 32 | CLOSED);
            this.body = null;
            t = failure;
            failure = null;
        } finally {
            busy.set(false);
        }
        if (t instanceof RuntimeException re) {
            throw re;
        } else if (t instanceof Error e) {
            throw e;
        } else if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Lets the workers park now instead of spinning for the next region: called at the end of a run, so that a
     * session between runs leaves the cores to others. The next region wakes them.
     */
    public void rest() {
        if (workers.length > 0 && !resting) {
            resting = true;
        }
    }

    /**
     * Wakes parked workers so that they spin, ready for the first region of a run (called as a run starts: the
     * wake-up latency then overlaps the run's first serial nodes). They park again after {@link #IDLE_SPIN_NANOS}.
     */
    public void wake() {
        if (resting) {
            resting = false;
        }
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w);
            }
        }
    }

    /** Claims and runs tasks of region {@code gen} until none is left. */
    private void work(long gen) {
        for (;;) {
            long v = state.get();
            if (v >>> 32 != gen) {
                return;
            }
            int i = (int) v;
            int n = count;
            if (i >= n) {
                return;
            }
            if (!state.compareAndSet(v, v + 1)) {
                continue;
            }
            try {
                if (failure == null) {
                    body.accept(i);
                }
            } catch (Throwable e) {
                failure = e;
            } finally {
                if (done.incrementAndGet() == n && callerParked) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    private void awaitDone(int n) {
        if (done.get() >= n) {
            return;
        }
        long start = System.nanoTime();
        while (done.get() < n) {
            if (System.nanoTime() - start < WAIT_SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                callerParked = true;
                if (done.get() < n) {
                    LockSupport.parkNanos(this, 1_000_000);
                }
                callerParked = false;
            }
        }
    }

    private void loop() {
        Worker self = (Worker) Thread.currentThread();
        long seen = state.get() >>> 32;
        long idleSince = System.nanoTime();
        while (!closed) {
            long gen = state.get() >>> 32;
            if (gen != seen) {
                seen = gen;
                work(gen);
                idleSince = System.nanoTime();
                continue;
            }
            if (!resting && System.nanoTime() - idleSince < IDLE_SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            self.parked = true;
            if (!closed && state.get() >>> 32 == seen) {
                LockSupport.park(this);
            }
            self.parked = false;
            idleSince = System.nanoTime();
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w);
        }
    }
}
