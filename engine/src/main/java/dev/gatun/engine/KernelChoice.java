package dev.gatun.engine;

/**
 * A kernel choice the planner made for one node of the optimised graph, as {@code gatun inspect} shows it: the
 * node's name and op type and what runs it, e.g. {@code sparse CSR 90.0% (est 2.9x at M>1, 1.0x at M=1)}.
 */
public record KernelChoice(String node, String opType, String kernel) {}
