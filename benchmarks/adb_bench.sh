#!/usr/bin/env bash
# Time the exported .tflite and .pte artifacts on an Android device over adb and write an
# edge-lmk-device-bench/1 JSON file that `python -m benchmarks.report` merges by device name.
#
#   benchmarks/adb_bench.sh --out benchmarks/devices/pixel8.json \
#       [--artifacts artifacts] [--threads "1 4"] [--runs 200] [--warmup 20] [--serial SERIAL] \
#       [--tflite-bin PATH/benchmark_model] [--et-bin PATH/executor_runner] [--name "Pixel 8"]
#
# Needs: adb with one device (or --serial), the export manifest (python -m export.all --out DIR),
# and at least one of the two on-device binaries (arm64 Android builds):
#   --tflite-bin  TFLite/LiteRT `benchmark_model` (android_aarch64). Prebuilt nightly binaries are
#                 linked from the LiteRT/TensorFlow Lite "performance measurement" docs; or build
#                 `bazel build -c opt --config=android_arm64 //tensorflow/lite/tools/benchmark:benchmark_model`.
#   --et-bin      ExecuTorch `executor_runner` built for Android with the XNNPACK backend (CMake with the
#                 NDK toolchain, -DANDROID_ABI=arm64-v8a -DEXECUTORCH_BUILD_XNNPACK=ON, target
#                 executor_runner), as in ExecuTorch's "Building and Running ExecuTorch with XNNPACK
#                 Backend" tutorial. Use the same ExecuTorch release as the exporter (1.5.x).
# Rows whose binary is missing are skipped with a warning. Inputs are the tools' own (random for
# benchmark_model, ones for executor_runner): this network has no data-dependent control flow.
# NME is not measured here (nme/n are null); the Android demo's benchmark mode measures it.
set -euo pipefail

ARTIFACTS=artifacts
OUT=""
THREADS="1 4"
RUNS=200
WARMUP=20
SERIAL=""
TFLITE_BIN=""
ET_BIN=""
NAME=""
PYTHON="${PYTHON:-python3}"
REMOTE=/data/local/tmp/edge_lmk_bench
# The Python half (benchmarks.adb_parse) is imported from this checkout, whatever the caller's cwd.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

die() { echo "adb_bench: $*" >&2; exit 1; }
warn() { echo "adb_bench: warning: $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --artifacts) ARTIFACTS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --serial) SERIAL="$2"; shift 2 ;;
    --tflite-bin) TFLITE_BIN="$2"; shift 2 ;;
    --et-bin) ET_BIN="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ -n "$OUT" ]] || die "--out FILE.json is required"
[[ -n "$TFLITE_BIN$ET_BIN" ]] || die "give --tflite-bin and/or --et-bin (see the header of this script)"
for b in "$TFLITE_BIN" "$ET_BIN"; do
  [[ -z "$b" || -f "$b" ]] || die "binary not found: $b"
done
[[ -f "$ARTIFACTS/manifest.json" ]] || die "no $ARTIFACTS/manifest.json; make one with: python -m export.all --out $ARTIFACTS"
[[ "$RUNS" =~ ^[0-9]+$ && "$WARMUP" =~ ^[0-9]+$ ]] || die "--runs and --warmup take integers"
for t in $THREADS; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "--threads takes positive integers, got '$t'"; done
command -v adb >/dev/null || die "adb not found on PATH (Android SDK platform-tools)"

ADB=(adb)
[[ -n "$SERIAL" ]] && ADB+=(-s "$SERIAL")
# adb reads stdin unless told not to; every call below gets </dev/null so the loops keep their input.
adbq() { "${ADB[@]}" "$@" </dev/null; }

[[ "$(adbq get-state 2>/dev/null || true)" == "device" ]] || die "no device ready (adb devices; pass --serial when several)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
INDEX="$WORK/index.tsv"
: >"$INDEX"
adbq shell getprop >"$WORK/props.txt"
adbq shell mkdir -p "$REMOTE"

if [[ -n "$TFLITE_BIN" ]]; then
  adbq push "$TFLITE_BIN" "$REMOTE/benchmark_model" >/dev/null
  adbq shell chmod 755 "$REMOTE/benchmark_model"
fi
if [[ -n "$ET_BIN" ]]; then
  adbq push "$ET_BIN" "$REMOTE/executor_runner" >/dev/null
  adbq shell chmod 755 "$REMOTE/executor_runner"
fi

ARTIFACT_LIST="$WORK/artifacts.tsv"
"$PYTHON" -m benchmarks.adb_parse list-artifacts --artifacts "$ARTIFACTS" >"$ARTIFACT_LIST"
[[ -s "$ARTIFACT_LIST" ]] || die "no .tflite or .pte artifacts in $ARTIFACTS/manifest.json"

while IFS=$'\t' read -r path model format precision variant; do
  name="$(basename "$path")"
  case "$format" in
    tflite) tool=benchmark_model; [[ -n "$TFLITE_BIN" ]] || { warn "skipping $name (no --tflite-bin)"; continue; } ;;
    executorch) tool=executor_runner; [[ -n "$ET_BIN" ]] || { warn "skipping $name (no --et-bin)"; continue; } ;;
    *) continue ;;
  esac
  adbq push "$path" "$REMOTE/$name" >/dev/null
  for t in $THREADS; do
    log="$WORK/$name.t$t.log"
    echo "adb_bench: $name threads=$t" >&2
    if [[ "$tool" == benchmark_model ]]; then
      adbq shell "$REMOTE/benchmark_model" --graph="$REMOTE/$name" --num_threads="$t" --num_runs="$RUNS" \
        --warmup_runs="$WARMUP" --use_xnnpack=true >"$log" 2>&1 || { warn "$name threads=$t failed (log kept in output)"; cat "$log" >&2; continue; }
    else
      # executor_runner has no warm-up flag: the first of RUNS+1 iterations is reported as first inference.
      # ET_LOG may go to logcat on Android builds, so logcat is cleared before and appended after.
      adbq logcat -c || true
      adbq shell "$REMOTE/executor_runner" --model_path="$REMOTE/$name" --num_executions="$((RUNS + 1))" \
        --cpu_threads="$t" >"$log" 2>&1 || { warn "$name threads=$t failed"; cat "$log" >&2; continue; }
      adbq logcat -d >>"$log" 2>/dev/null || true
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$model" "$format" "$precision" "$variant" "$t" "$log" >>"$INDEX"
  done
  adbq shell rm -f "$REMOTE/$name"
done <"$ARTIFACT_LIST"

assemble=("$PYTHON" -m benchmarks.adb_parse assemble --index "$INDEX" --props "$WORK/props.txt" --out "$OUT")
[[ -n "$NAME" ]] && assemble+=(--name "$NAME")
"${assemble[@]}"
