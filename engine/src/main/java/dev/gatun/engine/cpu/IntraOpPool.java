package dev.gatun.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A session's intra-op threads: {@code threads - 1} workers plus the calling thread share the tasks of one
 * {@link #parallelFor} at a time. Built for the many short parallel regions of an inference run (a BERT layer
 * at batch 1 has dozens of 10-100 us GEMMs): workers spin briefly before parking, tasks are claimed from an
 * atomic counter (dynamic balance, no per-task allocation), and the caller works instead of waiting.
 * Never the common ForkJoinPool: a server running several sessions gets exactly the threads it configured.
 */
public final class IntraOpPool implements AutoCloseable {
    private static final long SPIN_NANOS = 50_000;

    private static final class Job {
        final int n;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(int n, IntConsumer body) {
            this.n = n;
            this.body = body;
        }

        void work() {
            for (int i; (i = next.getAndIncrement()) < n; ) {
                try {
                    if (failure == null) {
                        body.accept(i);
                    }
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private final Thread[] workers;
    private final AtomicReference<Job> current = new AtomicReference<>();
    private volatile Thread caller;
    private volatile boolean closed;
    private final int threads;

    public IntraOpPool(int threads, String name) {
        this.threads = Math.max(1, threads);
        this.workers = new Thread[this.threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::loop, "gatun-intraop-" + name + "-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(i)} for every i in [0, n), spread over the pool and the calling thread; returns when
     * all are done. An exception thrown by a task is rethrown here (the remaining tasks are skipped).
     * Not reentrant: a task must not call parallelFor itself (it would run the nested loop inline).
     */
    public void parallelFor(int n, IntConsumer body) {
        if (n <= 0) {
            return;
        }
        if (n == 1 || workers.length == 0 || Thread.currentThread().getName().startsWith("gatun-intraop") || current.get() != null) {
            for (int i = 0; i < n; i++) {
                body.accept(i);
            }
            return;
        }
        Job job = new Job(n, body);
        caller = Thread.currentThread();
        current.set(job);
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        job.work();
        long start = System.nanoTime();
        while (job.done.get() < n) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 20_000);
            }
        }
        current.set(null);
        Throwable t = job.failure;
        if (t instanceof RuntimeException re) {
            throw re;
        } else if (t instanceof Error e) {
            throw e;
        } else if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    private void loop() {
        Job last = null;
        while (!closed) {
            Job job = current.get();
            if (job != null && job != last) {
                last = job;
                job.work();
                if (job.done.get() >= job.n) {
                    Thread c = caller;
                    if (c != null) {
                        LockSupport.unpark(c);
                    }
                }
                continue;
            }
            long start = System.nanoTime();
            while (!closed && current.get() == job && System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            }
            if (!closed && current.get() == job) {
                LockSupport.park(this);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
