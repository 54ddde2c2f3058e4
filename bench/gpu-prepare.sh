#!/usr/bin/env bash
# Prepares .gpu/ (default; or OUT_DIR) for bench/gpu-check.sh on a GPU machine that has no JDK, no Maven and no
# network (see the GPU machine notes): a packed Java 25 runtime, Gatun's jars without ONNX Runtime's native
# libraries and without the MiniLM jars, the engine's test classes with JUnit, the ONNX node tests of the ops the
# GPU backend claims plus the light models (xz-packed), the ResNet-18/MobileNetV2 generator script, and
# all-MiniLM-L6-v2's graph with its large weights stripped (refilled with random values of the same shapes there).
# Keeps the folder under 64 MiB. Usage: bench/gpu-prepare.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/.gpu}"
shared="${GATUN_SHARED_DIR:-}"
if [ -z "$shared" ]; then
  for d in "$root/../shared" "$root/../../shared"; do
    if [ -d "$d/onnx-node-tests" ]; then shared="$(cd "$d" && pwd)"; break; fi
  done
fi
[ -n "$shared" ] || { echo "gpu-prepare: the shared folder (onnx-node-tests, models, gpu) was not found; set GATUN_SHARED_DIR" >&2; exit 1; }
# shellcheck source=../scripts/find-java.sh
source "$root/scripts/find-java.sh"
cd "$root"
rm -rf "$out"
mkdir -p "$out/lib" "$out/test-lib"

if [ "${GATUN_PREPARE_NOBUILD:-0}" != 1 ]; then
  echo "gpu-prepare: building (package, tests compiled)..."
  ./mvnw -o -q -DskipTests package
fi
./mvnw -o -q -pl engine -am dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$out/engine-test.cp" >/dev/null

echo "gpu-prepare: jars"
cp bench/target/gatun-cli.jar "$out/lib/"
for j in bench/target/lib/*.jar; do
  case "$(basename "$j")" in
    langchain4j-*) ;;
    onnxruntime-*)  # classes only: ONNX Runtime is not used on the GPU machine, but the CLI's classes refer to it
      tmp=$(mktemp -d); (cd "$tmp" && "$JAVA_HOME/bin/jar" xf "$root/$j" && rm -rf ai/onnxruntime/native \
        && "$JAVA_HOME/bin/jar" cf "$out/lib/$(basename "$j")" .); rm -rf "$tmp" ;;
    *) cp "$j" "$out/lib/" ;;
  esac
done
tr ':' '\n' < "$out/engine-test.cp" | grep -E 'junit|opentest4j|apiguardian' | while read -r j; do cp "$j" "$out/test-lib/"; done
rm -f "$out/engine-test.cp"
(cd engine/target && tar cf - test-classes | xz -T0 -6 > "$out/engine-test-classes.tar.xz")

echo "gpu-prepare: Java runtime"
bash "$shared/gpu/make-jre.sh" "$out" >/dev/null

echo "gpu-prepare: models and node tests"
cp "$shared/models/make_models.py" "$out/"
cp bench/gpu/fill_weights.py bench/gpu/torch_ref.py "$out/"
./gatun inspect minilm >/dev/null
minilm="$HOME/.cache/gatun/models/all-minilm-l6-v2.onnx"
"$JAVA_HOME/bin/java" -cp "engine/target/classes:$(ls bench/target/lib/protobuf-java-*.jar)" bench/gpu/StripWeights.java \
  "$minilm" "$out/minilm-graph.onnx"
ops='add|sub|mul|div|pow|max|min|relu|sigmoid|tanh|exp|log|sqrt|neg|abs|erf|reciprocal|floor|ceil|gelu|clip|leakyrelu'
ops="$ops|hardsigmoid|hardswish|softplus|softmax|logsoftmax|layer_normalization|matmul|gemm|conv|maxpool|averagepool"
ops="$ops|globalaveragepool|reduce_mean|reduce_sum|reduce_max|reduce_min|gather|transpose|reshape|flatten|squeeze"
ops="$ops|unsqueeze|identity|shape|concat|cast"
(cd "$shared/onnx-node-tests" && { ls -d node/test_* | grep -E "^node/test_($ops)(_|$)"; echo light; } \
  | tar cf - -T - | xz -T0 -6 > "$out/node-tests.tar.xz")
cp bench/gpu-check.sh "$out/"
du -sh "$out"
total=$(du -sb "$out" | cut -f1)
if [ "$total" -gt $((64 * 1024 * 1024)) ]; then
  echo "gpu-prepare: $out is $total bytes, above the 64 MiB carry limit" >&2
  exit 1
fi
echo "gpu-prepare: ready; on the GPU machine run: bash .gpu/gpu-check.sh"
