package dev.gatun.engine;

/** A node of a loaded model as {@code gatun inspect} shows it: name, ONNX op type, domain, opset, and whether Gatun runs it. */
public record NodeInfo(String name, String opType, String domain, int opset, boolean supported) {}
