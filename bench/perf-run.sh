#!/usr/bin/env bash
# Runs the whole-model cases of docs/PERFORMANCE.md, each `gatun bench ... --compare ort --json`, writing
# OUT_DIR/CASE.json (default docs/perf), then redraws docs/perf-chart.svg from every JSON there.
#   bench/perf-run.sh MODELS_DIR [OUT_DIR]
# MODELS_DIR holds resnet18.onnx and mobilenet_v2.onnx (python3 ../shared/models/make_models.py MODELS_DIR from
# the repository root); MiniLM is the CLI's built-in 'minilm' ('minilm-q' its int8 model).
# Warm-up counts are long on purpose: the JIT (C2 and the Vector API intrinsics) settles only after about
# 150 runs of a small model; shorter warm-ups measure the compiler, not the kernels. Batch 8 too: kernels a CNN runs
# once a run (ResNet-18's classifier GEMM: 0.33 ms a run after 40 warm-up runs, 0.09 ms after 150) need as many.
# PERF_CASES=REGEX runs only the cases whose name matches (e.g. PERF_CASES='^minilm-1x128').
set -euo pipefail
root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models="${1:?usage: bench/perf-run.sh MODELS_DIR [OUT_DIR]}"
out="${2:-$root/docs/perf}"
mkdir -p "$out"

# name | model | arguments
cases=(
  "minilm-1x128-t1|minilm|--dim batch_size=1 --dim sequence_length=128 --threads 1 --warmup 200"
  "minilm-1x128-t2|minilm|--dim batch_size=1 --dim sequence_length=128 --threads 2 --warmup 200"
  "minilm-32x128-t1|minilm|--dim batch_size=32 --dim sequence_length=128 --threads 1 --warmup 10 --iterations 20 --time-limit 150"
  "minilm-32x128-t2|minilm|--dim batch_size=32 --dim sequence_length=128 --threads 2 --warmup 10 --iterations 20 --time-limit 150"
  "minilm-q-1x128-t1|minilm-q|--dim batch_size=1 --dim sequence_length=128 --threads 1 --warmup 200"
  "minilm-q-1x128-t2|minilm-q|--dim batch_size=1 --dim sequence_length=128 --threads 2 --warmup 200"
  "minilm-q-32x128-t1|minilm-q|--dim batch_size=32 --dim sequence_length=128 --threads 1 --warmup 10 --iterations 20 --time-limit 120"
  "minilm-q-32x128-t2|minilm-q|--dim batch_size=32 --dim sequence_length=128 --threads 2 --warmup 10 --iterations 20 --time-limit 120"
  "resnet18-b1-t2|$models/resnet18.onnx|--dim batch=1 --threads 2 --warmup 200"
  "resnet18-b8-t2|$models/resnet18.onnx|--dim batch=8 --threads 2 --warmup 150 --iterations 30 --time-limit 120"
  "mobilenet_v2-b1-t2|$models/mobilenet_v2.onnx|--dim batch=1 --threads 2 --warmup 200"
  "mobilenet_v2-b8-t2|$models/mobilenet_v2.onnx|--dim batch=8 --threads 2 --warmup 150 --iterations 30 --time-limit 120"
)

for c in "${cases[@]}"; do
  IFS='|' read -r name model args <<<"$c"
  if [ -n "${PERF_CASES:-}" ] && ! [[ "$name" =~ $PERF_CASES ]]; then
    continue
  fi
  echo "== $name: gatun bench $model $args --compare ort --json" >&2
  # shellcheck disable=SC2086
  "$root/gatun" bench "$model" $args --compare ort --json >"$out/$name.json.part"
  mv "$out/$name.json.part" "$out/$name.json"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("   gatun p50 %.2f ms, ort p50 %.2f ms, speedup %.2fx" % (j["gatun"]["p50_ms"], j["ort"]["p50_ms"], j["speedup_p50"]))' "$out/$name.json" >&2
done
python3 "$root/bench/perf-chart.py" -o "$root/docs/perf-chart.svg" "$out"/*.json
