package dev.gatun.server;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A model version's bounded request queue and its workers, one per session instance. A worker takes the oldest
 * job, adds every queued job that merges with it while the batch has room ({@code maxRows}), and, while the batch
 * is not full and requests for this version have been received but not yet queued, waits for them up to
 * {@code maxDelay} after the oldest job arrived. Nothing waits when nothing is on its way, so a lone request runs
 * at once. Over {@code capacity} waiting jobs, {@link #submit} refuses with 503 and {@code Retry-After}.
 */
final class Batcher {
    /** Runs one merged batch on one instance and completes (or fails) every job in it. */
    interface Runner {
        void run(List<Job> batch, int instance);
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final Condition arrived = lock.newCondition();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final int capacity;
    private final int maxRows;
    private final long maxDelayNanos;
    private final Runner runner;
    private final Metrics.ModelMetrics metrics;
    private final List<Thread> workers = new ArrayList<>();
    /** Requests routed to this version whose job is not queued yet (they may join a batch soon). */
    final AtomicInteger incoming = new AtomicInteger();
    private boolean closed;

    Batcher(String name, int instances, int capacity, int maxRows, long maxDelayUs, Runner runner, Metrics.ModelMetrics metrics) {
        this.capacity = capacity;
        this.maxRows = Math.max(1, maxRows);
        this.maxDelayNanos = TimeUnit.MICROSECONDS.toNanos(maxDelayUs);
        this.runner = runner;
        this.metrics = metrics;
        for (int i = 0; i < instances; i++) {
            int instance = i;
            Thread t = Thread.ofPlatform().name(name + "-instance-" + i).daemon().unstarted(() -> work(instance));
            workers.add(t);
        }
        workers.forEach(Thread::start);
    }

    /**
     * Queues a job.
     *
     * @throws HttpError 503 (with Retry-After) when the queue is full or the version is unloading
     */
    void submit(Job job) {
        lock.lock();
        try {
            if (closed) {
                throw new HttpError(503, "the model version is unloading; retry", Map.of("Retry-After", "1"), "unloading");
            }
            if (queue.size() >= capacity) {
                throw new HttpError(503, "the model's queue is full (" + capacity + " requests waiting); retry later",
                        Map.of("Retry-After", "1"), "queue_full");
            }
            queue.addLast(job);
            metrics.depth.set(queue.size());
            notEmpty.signal();
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void work(int instance) {
        while (true) {
            List<Job> batch;
            try {
                batch = take();
            } catch (InterruptedException e) {
                return;
            }
            if (batch == null) {
                return;
            }
            List<Job> live = new ArrayList<>(batch.size());
            for (Job j : batch) {
                if (j.start()) {
                    live.add(j);
                }
            }
            if (live.isEmpty()) {
                continue;
            }
            try {
                runner.run(live, instance);
            } catch (RuntimeException | Error e) {
                RuntimeException r = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                for (Job j : live) {
                    j.fail(r);
                }
            }
        }
    }

    /** The next batch; null once closed and drained. */
    private List<Job> take() throws InterruptedException {
        lock.lock();
        try {
            Job first;
            while ((first = pollLive()) == null) {
                if (closed) {
                    return null;
                }
                notEmpty.await();
            }
            List<Job> batch = new ArrayList<>();
            batch.add(first);
            int rows = first.rows;
            if (maxRows > 1) {
                long deadline = first.enqueuedNanos + maxDelayNanos;
                while (true) {
                    for (Iterator<Job> it = queue.iterator(); it.hasNext() && rows < maxRows; ) {
                        Job j = it.next();
                        if (j.cancelled()) {
                            it.remove();
                        } else if (j.mergesWith(first) && rows + j.rows <= maxRows) {
                            it.remove();
                            batch.add(j);
                            rows += j.rows;
                        }
                    }
                    long wait = deadline - System.nanoTime();
                    if (rows >= maxRows || closed || incoming.get() <= 0 || wait <= 0) {
                        break;
                    }
                    arrived.awaitNanos(wait);
                }
            }
            metrics.depth.set(queue.size());
            if (!queue.isEmpty()) {
                notEmpty.signal();
            }
            return batch;
        } finally {
            lock.unlock();
        }
    }

    private Job pollLive() {
        Job j = queue.pollFirst();
        while (j != null && j.cancelled()) {
            j = queue.pollFirst();
        }
        return j;
    }

    /** Stops taking jobs once the queue is drained; waits for the workers to finish. */
    void close() {
        lock.lock();
        try {
            closed = true;
            notEmpty.signalAll();
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        for (Thread t : workers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
