#!/usr/bin/env bash
# Compile and run the pure Kotlin/JVM core tests without Gradle or the Android SDK.
#
#   android_demo/core/run_tests.sh [bench-report-out.json]
#   android_demo/core/run_tests.sh --setup     # only install the compiler and compile (for `make setup`)
#
# 1. installs the pinned Kotlin compiler from npm into android_demo/.kotlinc once (cached;
#    set KOTLINC_HOME to use a compiler you already have);
# 2. compiles core + tests with kotlinc (skipped when the sources have not changed);
# 3. runs them (golden vectors in src/test/resources/golden) and ends with "N passed, M failed";
#    exits non-zero on failure. An optional argument receives a sample benchmark report.
set -euo pipefail

KOTLIN_VERSION=2.4.20
CORE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$CORE")"
BUILD="$CORE/build/kotlinc"

command -v java >/dev/null || { echo "java not found: install a JDK (17+)" >&2; exit 2; }

if [[ -z "${KOTLINC_HOME:-}" ]]; then
  KOTLINC_HOME="$DEMO/.kotlinc/node_modules/kotlin-compiler"
  if [[ ! -x "$KOTLINC_HOME/bin/kotlinc" ]] || [[ "$(cat "$KOTLINC_HOME/build.txt" 2>/dev/null)" != "$KOTLIN_VERSION" ]]; then
    command -v npm >/dev/null || { echo "npm not found and no Kotlin compiler in $KOTLINC_HOME (or set KOTLINC_HOME)" >&2; exit 2; }
    echo "installing kotlin-compiler@$KOTLIN_VERSION into $DEMO/.kotlinc (once)"
    npm install --silent --no-audit --no-fund --prefix "$DEMO/.kotlinc" "kotlin-compiler@$KOTLIN_VERSION" >&2
  fi
fi
LIB="$KOTLINC_HOME/lib"
CP_TEST="$LIB/kotlin-test.jar"

# Rebuild only when a source file (or the compiler) changed: compiling costs ~30-60 s.
stamp="$( (echo "$KOTLIN_VERSION"; cd "$CORE" && find src/main src/test -name '*.kt' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$BUILD/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  rm -rf "$BUILD"
  mkdir -p "$BUILD/classes"
  echo "compiling core + tests with kotlinc $KOTLIN_VERSION"
  # one kotlinc run for both source sets: each JVM start of the compiler costs seconds
  "$KOTLINC_HOME/bin/kotlinc" -jvm-target 17 -nowarn -cp "$CP_TEST" -d "$BUILD/classes" \
    "$CORE/src/main/kotlin" "$CORE/src/test/kotlin"
  echo "$stamp" > "$BUILD/.stamp"
fi

[[ "${1:-}" == "--setup" ]] && { echo "kotlin core compiled in $BUILD"; exit 0; }

java -cp "$BUILD/classes:$LIB/kotlin-stdlib.jar:$CP_TEST" edgelmk.core.TestRunnerKt \
  "$CORE/src/test/resources/golden" ${1:+"$1"}
