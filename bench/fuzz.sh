#!/usr/bin/env bash
# Runs the seeded spec fuzzer for N cases (default 100000) and prints the outcome counts.
# Usage: bench/fuzz.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
dotnet build tests/ModelCompiler.Core.Tests -v q -nologo >/dev/null
MODELC_FUZZ_CASES="${1:-100000}" MODELC_FUZZ_SEED="${2:-20261201}" MODELC_FUZZ_REPORT="$report" \
  dotnet test tests/ModelCompiler.Core.Tests --no-build -v q --filter "FullyQualifiedName~Reliability.SpecFuzzTests" || status=$?
cat "$report"
exit "${status:-0}"
