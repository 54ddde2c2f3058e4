#!/usr/bin/env bash
# Runs Gatun's JMH benchmarks (package dev.gatun.bench): bench/jmh.sh [JMH ARGS]
# Builds first when needed (through the ./gatun launcher, which rebuilds when a pom.xml or a source changed),
# then runs org.openjdk.jmh.Main with the JVM flags Gatun needs; JMH's forked JVMs inherit them.
# Examples:
#   bench/jmh.sh -l                                  list the benchmarks
#   bench/jmh.sh GemmBench                           GEMM, every shape and thread count
#   bench/jmh.sh 'GemmBench.matmul' -p mnk=1024x1024x1024 -p threads=2
#   bench/jmh.sh GemvBench -rf json -rff gemv.json   results as JSON too
# GATUN_JAVA_OPTS adds JVM options (to this JVM and the forks).
set -euo pipefail
root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/find-java.sh
source "$root/scripts/find-java.sh"
"$root/gatun" --version >/dev/null
# shellcheck disable=SC2086
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow -Xss8m ${GATUN_JAVA_OPTS:-} \
  -cp "$root/bench/target/gatun-cli.jar:$root/bench/target/lib/*" org.openjdk.jmh.Main "$@"
