#!/usr/bin/env bash
# Benchmark (not a test): BenchmarkDotNet timings and managed allocations of each compile stage (load, sample,
# calibrate, statistics, decide, transform, validate, save) on a synthetic LLaMA.
# Usage: bench/compile-stages-bdn.sh [dim=512] [vocab=8192] [tokens=512] [extra BenchmarkDotNet args...]
# e.g. bench/compile-stages-bdn.sh 1024 16384 1024 --filter '*calibrate*'
# Results (Markdown, CSV, HTML) land in ./BenchmarkDotNet.Artifacts/results.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MODELC_BENCH_DIM=${1:-512} MODELC_BENCH_VOCAB=${2:-8192} MODELC_BENCH_TOKENS=${3:-512}
shift $(( $# < 3 ? $# : 3 ))
dotnet build "$root/bench/ModelCompiler.Benchmarks" -c Release -v q -nologo >/dev/null
dotnet "$root/bench/ModelCompiler.Benchmarks/bin/Release/net10.0/ModelCompiler.Benchmarks.dll" --filter '*' "$@"
