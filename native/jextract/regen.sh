#!/usr/bin/env bash
# Regenerates the CUDA bindings (bindings/src/main/java/dev/gatun/bindings/cuda/{CudaRuntime,CudaDriver,Cublas,Nvrtc}.java)
# with jextract 25 from the CUDA headers, filtered to the symbols listed in the *.args files next to this script.
# Usage: native/jextract/regen.sh [OUT_DIR]   (default: bindings/target/jextract; compare, then copy the holders over)
# Needs: jextract 25 on PATH (or JEXTRACT), CUDA headers under CUDA_HOME (default /usr/local/cuda) including
# cublas_api.h and nvrtc.h (the cuBLAS and NVRTC development packages).
# jextract's header classes look their library up themselves; Gatun's copies instead take their SymbolLookup from
# NativeLib (the CudaLibraries search), which is the one edit to make after regenerating.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/bindings/target/jextract}"
jx="${JEXTRACT:-jextract}"
cuda="${CUDA_HOME:-/usr/local/cuda}"
inc="$cuda/include"
command -v "$jx" >/dev/null 2>&1 || { echo "regen.sh: jextract not found (set JEXTRACT or put jextract 25 on PATH)" >&2; exit 1; }
"$jx" --version 2>&1 | grep -q '25' || echo "regen.sh: warning: $("$jx" --version 2>&1 | head -1) is not jextract 25" >&2
mkdir -p "$out"
gen() { # args-file header
  local args="$here/$1" header="$inc/$2"
  [ -f "$header" ] || { echo "regen.sh: $header not found (skipping $1)" >&2; return 0; }
  "$jx" -I "$inc" --output "$out" @"$args" "$header"
  echo "regen.sh: $1 -> $out"
}
gen cudart.args cuda_runtime_api.h
gen cuda.args cuda.h
gen cublas.args cublas_api.h
gen nvrtc.args nvrtc.h
