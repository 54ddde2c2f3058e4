#!/usr/bin/env bash
# The GPU check in one command, on the GPU machine (H100, CUDA 13, no JDK/Maven/network), from the repository root
# with .gpu/ made by bench/gpu-prepare.sh:   bash .gpu/gpu-check.sh [OUT_DIR]
# 1. the CUDA tests (JUnit, tag "cuda" and the CUDA unit tests), 2. gatun conformance --device cuda on the node tests
# of the claimed ops and the light models, 3. gatun verify --device cuda against Gatun on the CPU for MiniLM-shaped
# (random weights), ResNet-18 and MobileNetV2, 4. gatun bench --device cuda (MiniLM 1x128 and 32x128, ResNet-18 b1),
# 5. a 4096^3 fp32 MatMul through the engine vs raw cublasSgemm in the same process, 6. PyTorch eager on the same
# shapes. Logs go to OUT_DIR (default $OUT when set, else /tmp/gatun-gpu-check); a summary is printed at the end.
# GATUN_CUDA_DEBUG=1 synchronises after every kernel and names the failing node.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${OUT:-/tmp/gatun-gpu-check}}"
mkdir -p "$out"
work=/tmp/gatun-gpu
mkdir -p "$work/jre"
[ -x "$work/jre/bin/java" ] || tar xJf "$here/jre.tar.xz" -C "$work/jre" --strip-components=1
export JAVA_HOME="$work/jre" PATH="$work/jre/bin:$PATH"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda-13.0/targets/x86_64-linux}"
export GATUN_CUDA_CACHE="$work/kernel-cache"
for d in /usr/local/cuda-13.0/bin /usr/local/cuda/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
[ -d "$work/test-classes" ] || tar xJf "$here/engine-test-classes.tar.xz" -C "$work"
[ -d "$work/tests/node" ] || { mkdir -p "$work/tests" && tar xJf "$here/node-tests.tar.xz" -C "$work/tests"; }
py=python3
[ -x /opt/torch/.venv/bin/python ] && py=/opt/torch/.venv/bin/python
jvm=(java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Xss8m -Xmx16g)
cp="$here/lib/*"
gatun() { "${jvm[@]}" -cp "$cp" dev.gatun.cli.Gatun "$@"; }
summary=()
step() { # name, command...
  local name="$1"; shift
  echo "== $name" | tee -a "$out/summary.txt"
  local t0=$SECONDS
  if "$@" > "$out/$name.log" 2>&1; then status=ok; else status="FAILED (exit $?)"; fi
  tail -n 12 "$out/$name.log"
  summary+=("$(printf '%-28s %-18s %4ss  %s' "$name" "$status" $((SECONDS - t0)) "$(grep -E 'PASS|FAIL|passed|p50|TFLOP|engine / raw|Tests|ms' "$out/$name.log" | tail -n 3 | tr '\n' ' ' | cut -c1-160)")")
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
echo "GPU: $(cat "$out/gpu.txt")"

echo "== models"
mkdir -p "$work/models"
[ -f "$work/models/resnet18.onnx" ] || python3 "$here/make_models.py" "$work/models" > "$out/models.log" 2>&1
[ -f "$work/models/minilm.onnx" ] || $py "$here/fill_weights.py" "$here/minilm-graph.onnx" "$work/models/minilm.onnx" >> "$out/models.log" 2>&1
ls -la "$work/models" | tee -a "$out/models.log"

step cuda-tests "${jvm[@]}" -Dgatun.shared.dir=/nonexistent -Dgatun.root.dir="$here/.." -cp "$work/test-classes:$cp:$here/test-lib/*" dev.gatun.engine.cuda.CudaTestMain
step conformance-node gatun conformance "$work/tests/node" --device cuda
step conformance-light gatun conformance "$work/tests/light" --device cuda
step verify-minilm gatun verify "$work/models/minilm.onnx" --device cuda --against cpu --dim batch_size=2 --dim sequence_length=128
step verify-resnet18 gatun verify "$work/models/resnet18.onnx" --device cuda --against cpu --dim batch=2
step verify-mobilenet gatun verify "$work/models/mobilenet_v2.onnx" --device cuda --against cpu --dim batch=2
step inspect-minilm gatun inspect "$work/models/minilm.onnx" --device cuda
step bench-minilm-1x128 gatun bench "$work/models/minilm.onnx" --device cuda --dim batch_size=1 --dim sequence_length=128 --warmup 50 --iterations 200 --no-settle
step bench-minilm-32x128 gatun bench "$work/models/minilm.onnx" --device cuda --dim batch_size=32 --dim sequence_length=128 --warmup 20 --iterations 100 --no-settle
step bench-resnet18-b1 gatun bench "$work/models/resnet18.onnx" --device cuda --dim batch=1 --warmup 50 --iterations 200 --no-settle
step bench-minilm-1x128-tf32 gatun bench "$work/models/minilm.onnx" --device cuda --cuda-math tf32 --dim batch_size=1 --dim sequence_length=128 --warmup 50 --iterations 200 --no-settle
step gemm-4096 "${jvm[@]}" -cp "$cp" dev.gatun.bench.GpuGemmCheck 4096 32 fp32
step torch-eager $py "$here/torch_ref.py"

echo
echo "================ summary (logs in $out)" | tee -a "$out/summary.txt"
for s in "${summary[@]}"; do echo "$s" | tee -a "$out/summary.txt"; done
