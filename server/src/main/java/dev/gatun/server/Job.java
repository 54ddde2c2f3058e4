package dev.gatun.server;

import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One request's work in a model's batch queue: either tensors (already checked against the model) or a
 * pipeline's raw items. A worker merges compatible jobs along the batch dimension, runs them and completes each
 * with its own rows of the outputs, or with an error. A job whose requester gave up is skipped.
 */
final class Job {
    private static final int QUEUED = 0;
    private static final int RUNNING = 1;
    private static final int CANCELLED = 2;

    /** Model inputs (heap memory), or null for a pipeline job. */
    final Map<String, Tensor> inputs;
    /** Raw items for the pipeline, or null for a tensor job. */
    final List<?> items;
    /** Rows this job adds to a batch (its batch dim, or its item count). */
    final int rows;
    /** What must match for two jobs to merge: per input, dtype and dims after the first. */
    final long[] signature;
    final long enqueuedNanos = System.nanoTime();
    volatile long startedNanos;
    /** Time of the run this job was part of. */
    volatile long computeNanos;
    private final AtomicInteger state = new AtomicInteger(QUEUED);
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile Map<String, Tensor> outputs;
    private volatile RuntimeException error;

    private Job(Map<String, Tensor> inputs, List<?> items, int rows, long[] signature) {
        this.inputs = inputs;
        this.items = items;
        this.rows = rows;
        this.signature = signature;
    }

    /** A tensor job; {@code order} fixes the input order of the signature. */
    static Job ofTensors(Map<String, Tensor> inputs, List<String> order, int rows) {
        int n = 0;
        for (String name : order) {
            n += 2 + inputs.get(name).shape().rank();
        }
        long[] sig = new long[n];
        int k = 0;
        for (String name : order) {
            Tensor t = inputs.get(name);
            sig[k++] = t.dtype().ordinal();
            sig[k++] = t.shape().rank();
            for (int d = 1; d < t.shape().rank(); d++) {
                sig[k++] = t.shape().dim(d);
            }
        }
        return new Job(inputs, null, rows, Arrays.copyOf(sig, k));
    }

    /** A pipeline job. */
    static Job ofItems(List<?> items) {
        return new Job(null, items, items.size(), new long[0]);
    }

    boolean mergesWith(Job o) {
        return (items == null) == (o.items == null) && Arrays.equals(signature, o.signature);
    }

    /** Claims the job for running; false when its requester already gave up. */
    boolean start() {
        if (state.compareAndSet(QUEUED, RUNNING)) {
            startedNanos = System.nanoTime();
            return true;
        }
        return false;
    }

    boolean cancelled() {
        return state.get() == CANCELLED;
    }

    void complete(Map<String, Tensor> out) {
        outputs = out;
        done.countDown();
    }

    void fail(RuntimeException e) {
        error = e;
        done.countDown();
    }

    /**
     * Waits for the outputs until {@code deadlineNanos}.
     *
     * @throws HttpError 504 when the deadline passes (the job is dropped if it has not started)
     */
    Map<String, Tensor> await(long deadlineNanos, long timeoutMs) throws InterruptedException {
        long wait = deadlineNanos - System.nanoTime();
        if (wait <= 0 || !done.await(wait, TimeUnit.NANOSECONDS)) {
            state.compareAndSet(QUEUED, CANCELLED);
            throw new HttpError(504, "the request did not complete within the request timeout of " + timeoutMs + " ms");
        }
        if (error != null) {
            throw error;
        }
        return outputs;
    }
}
