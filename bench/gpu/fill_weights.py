#!/usr/bin/env python3
"""Fills the initializers StripWeights marked "gatun:random" with seeded N(0, 0.05) values of their shapes.
usage: fill_weights.py IN.onnx OUT.onnx   (needs the onnx and numpy Python packages)"""
import sys
import numpy as np
import onnx
from onnx import numpy_helper

m = onnx.load(sys.argv[1])
rng = np.random.default_rng(0)
n = 0
for i, t in enumerate(m.graph.initializer):
    if t.doc_string == "gatun:random":
        a = (rng.standard_normal(tuple(t.dims)) * 0.05).astype(np.float32)
        nt = numpy_helper.from_array(a, t.name)
        m.graph.initializer[i].CopyFrom(nt)
        n += 1
onnx.save(m, sys.argv[2])
print(f"filled {n} initializers -> {sys.argv[2]}")
