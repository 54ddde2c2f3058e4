#!/bin/sh
# Compiles igemm_vnni.c into DIR/libgatun_cpu.so (the engine's Maven build runs this on Linux x86-64 with
# DIR = target/classes/native/linux-x86_64, so the library lands in the engine jar). Without a C compiler,
# or with one too old for the VNNI intrinsics, it prints why and exits 0: Gatun then uses its portable kernels.
# CC picks the compiler (default cc).
set -u
dir="$1"
src="$(cd "$(dirname "$0")" && pwd)/igemm_vnni.c"
out="$dir/libgatun_cpu.so"
cc="${CC:-cc}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "[gatun] no C compiler ('$cc'): the native int8 kernels are not built; the portable ones will run"
  exit 0
fi
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then
  exit 0
fi
mkdir -p "$dir"
if "$cc" -O3 -fPIC -shared -ffp-contract=off -Wall -o "$out.tmp" "$src"; then
  mv -f "$out.tmp" "$out"
  echo "[gatun] built $out"
else
  rm -f "$out.tmp"
  echo "[gatun] '$cc' could not compile $src (it needs AVX-512 VNNI and AVX-VNNI intrinsics, gcc >= 11 or clang >= 12):"
  echo "[gatun] the native int8 kernels are not built; the portable ones will run"
fi
exit 0
