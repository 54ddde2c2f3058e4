#!/usr/bin/env bash
# Runs ONNX node tests against the engine's classes straight from the build tree (a developer's loop;
# `gatun conformance` is the user-facing command). Usage: scripts/conformance.sh [REGEX] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find-java.sh
regex="${1:-.}"
dir="${2:-../shared/onnx-node-tests/node}"
./mvnw -o -q -pl engine -am compile
cpfile=engine/target/classpath.txt
if [ ! -s "$cpfile" ] || [ engine/pom.xml -nt "$cpfile" ]; then
  ./mvnw -o -q -pl engine -am dependency:build-classpath -Dmdep.outputFile="$PWD/$cpfile" -Dmdep.includeScope=runtime >/dev/null
fi
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow -Xss8m \
  -cp "engine/target/classes:bindings/target/classes:$(cat "$cpfile")" dev.gatun.engine.conformance.ConformanceRunner "$dir" "$regex"
