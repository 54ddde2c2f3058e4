#!/bin/sh
# Compiles the int8 GEMM kernels into DIR/libgatun_cpu.so (the engine's Maven build runs this on Linux x86-64
# with DIR = target/classes/native/linux-x86_64, so the library lands in the engine jar): igemm_vnni.c (AVX-512
# VNNI and AVX-VNNI) and igemm_amx.c (AMX-INT8), each compiled on its own. Without a C compiler, or with one too
# old for the VNNI intrinsics, it prints why and exits 0: Gatun then uses its portable kernels. A compiler too
# old for the AMX intrinsics (gcc < 11, clang < 12) only leaves the AMX kernel out (Java then reports it missing
# and runs the VNNI one). CC picks the compiler (default cc).
set -u
dir="$1"
here="$(cd "$(dirname "$0")" && pwd)"
out="$dir/libgatun_cpu.so"
cc="${CC:-cc}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "[gatun] no C compiler ('$cc'): the native int8 kernels are not built; the portable ones will run"
  exit 0
fi
fresh=1
for f in "$here/igemm_vnni.c" "$here/igemm_amx.c" "$here/igemm_common.h" "$0"; do
  if [ ! -f "$out" ] || [ ! "$out" -nt "$f" ]; then
    fresh=0
  fi
done
if [ "$fresh" = 1 ]; then
  exit 0
fi
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
flags="-O3 -fPIC -ffp-contract=off -Wall"
if ! "$cc" $flags -c -o "$tmp/igemm_vnni.o" "$here/igemm_vnni.c"; then
  rm -f "$tmp/igemm_vnni.o"
  echo "[gatun] '$cc' could not compile igemm_vnni.c (it needs AVX-512 VNNI and AVX-VNNI intrinsics, gcc >= 11 or clang >= 12):"
  echo "[gatun] the native int8 kernels are not built; the portable ones will run"
  exit 0
fi
objs="$tmp/igemm_vnni.o"
if "$cc" $flags -c -o "$tmp/igemm_amx.o" "$here/igemm_amx.c"; then
  objs="$objs $tmp/igemm_amx.o"
else
  rm -f "$tmp/igemm_amx.o"
  echo "[gatun] '$cc' could not compile igemm_amx.c (AMX intrinsics need gcc >= 11 or clang >= 12): the AMX kernel is left out"
fi
if "$cc" -shared -o "$out.tmp" $objs; then
  mv -f "$out.tmp" "$out"
  echo "[gatun] built $out"
else
  rm -f "$out.tmp"
  echo "[gatun] '$cc' could not link $out: the native int8 kernels are not built; the portable ones will run"
fi
exit 0
