#!/usr/bin/env bash
# Runs a seeded fuzzer for N cases and prints the outcome counts.
# Usage: bench/fuzz.sh [N] [SEED] [spec|onnx]
#   spec (default): mutated spec YAML through the spec loader (default N 100000)
#   onnx: mutated ONNX models through the compile load stage, every 20th also an ORT session + one step (default N 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${3:-spec}"
case "$mode" in
  spec) filter="FullyQualifiedName~Reliability.SpecFuzzTests"; default=100000 ;;
  onnx) filter="FullyQualifiedName~Reliability.OnnxFuzzTests"; default=5000 ;;
  *) echo "bench/fuzz.sh: unknown mode '$mode' (spec or onnx)" >&2; exit 2 ;;
esac
report=$(mktemp)
trap 'rm -f "$report" "$report.progress"' EXIT
dotnet build tests/ModelCompiler.Core.Tests -v q -nologo >/dev/null
MODELC_FUZZ_CASES="${1:-$default}" MODELC_FUZZ_SEED="${2:-20261201}" MODELC_FUZZ_REPORT="$report" \
  dotnet test tests/ModelCompiler.Core.Tests --no-build -v q --filter "$filter" || status=$?
if [ -s "$report" ]; then cat "$report"; elif [ -s "$report.progress" ]; then echo "stopped early; counts so far:"; cat "$report.progress"; fi
exit "${status:-0}"
