# Sourced by the launcher and scripts: sets JAVA_HOME to a JDK 25 or newer, or explains what to install.
# Order: JAVA_HOME if it is 25+, then any JDK 25+ under /usr/lib/jvm.
java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}
gatun_find_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    local v; v=$(java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then return 0; fi
  fi
  local d v
  for d in /usr/lib/jvm/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then export JAVA_HOME="$d"; return 0; fi
  done
  echo "gatun: no JDK 25 found. Install a JDK 25 (for example Temurin 25) under /usr/lib/jvm, or set JAVA_HOME to one." >&2
  return 1
}
gatun_find_java || exit 1
export JAVA_HOME
