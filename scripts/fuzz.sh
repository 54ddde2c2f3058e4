#!/usr/bin/env bash
# Runs one Jazzer fuzz target in fuzzing mode (a normal test run only replays the committed corpus).
# Usage: scripts/fuzz.sh TARGET [MINUTES]      (MINUTES defaults to 10)
# Targets:
#   loader     engine  OnnxLoaderFuzzTest#loadPlanRun   bytes -> Model -> plan -> one run on small random inputs
#   npy        engine  TensorFileFuzzTest#npy           the .npy reader
#   pb         engine  TensorFileFuzzTest#pb            the TensorProto .pb reader
#   v2         server  RequestFuzzTest#v2               KServe v2 JSON and binary-extension request decoding
#   predict    server  RequestFuzzTest#predict          the /predict request decoding
#   tokenizer  server  TokenizerFuzzTest#encode         the WordPiece tokenizer (all-MiniLM-L6-v2's vocabulary)
# The growing corpus stays in MODULE/.cifuzz-corpus/ (git-ignored); a crashing input is written next to the seeds
# (MODULE/src/test/resources/.../<Class>Inputs/<method>/crash-*), where it stays as a regression input once fixed.
# The test JVM gets a 1 GiB heap, so an allocation sized from untrusted input fails fast as a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find-java.sh
target="${1:?usage: scripts/fuzz.sh TARGET [MINUTES]  (loader, npy, pb, v2, predict, tokenizer)}"
minutes="${2:-10}"
case "$target" in
  loader) module=engine; test='OnnxLoaderFuzzTest#loadPlanRun' ;;
  npy) module=engine; test='TensorFileFuzzTest#npy' ;;
  pb) module=engine; test='TensorFileFuzzTest#pb' ;;
  v2) module=server; test='RequestFuzzTest#v2' ;;
  predict) module=server; test='RequestFuzzTest#predict' ;;
  tokenizer) module=server; test='TokenizerFuzzTest#encode' ;;
  *) echo "fuzz.sh: unknown target '$target' (loader, npy, pb, v2, predict, tokenizer)" >&2; exit 2 ;;
esac
export JAZZER_FUZZ=1
exec ./mvnw -o -B --no-transfer-progress -pl "$module" -am test -Dtest="$test" -Dsurefire.failIfNoSpecifiedTests=false \
  -Djazzer.max_duration="${minutes}m" -Dgatun.test.heap="1g -XX:+EnableDynamicAgentLoading" -Djazzer.instrument='dev.gatun.**' -Dgatun.fuzz.quietReplay=false
