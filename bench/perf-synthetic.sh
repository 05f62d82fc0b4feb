#!/usr/bin/env bash
# Benchmark (not a test): the figures of docs/performance.md on a synthetic LLaMA of realistic width.
# Usage: bench/perf-synthetic.sh [dim=2048] [hidden=5632] [layers=4] [vocab=32000] [tokens=512] [work=$(mktemp -d)]
#   With `work` given, the folder is kept and what is already in it (model, compiled models) is reused, so a second
#   run repeats only the timing; `COMPILE_ONLY=1` stops before the bench.
# Makes the model (random weights scaled like a trained model's, two planted spike layers), then:
#   1. compiles it all-INT8, mixed (spike policy: the planted layers stay fp32) and all-FP16 (policy none, fallback fp16),
#      each data-free on `tokens` calibration and `tokens` evaluation tokens, printing wall / forward seconds,
#      the stages and peak RSS (from --json and /usr/bin/time);
#   2. times fp32 vs the three in one interleaved `modelc bench` run (prefill 256, decode 32, 2 threads, median of 5)
#      with an ORT profile of each.
# Needs ~8 GB of RAM at the default size. Prints JSON lines; the work folder is removed at the end.
set -euo pipefail
dim=${1:-2048} hidden=${2:-5632} layers=${3:-4} vocab=${4:-32000} tokens=${5:-512}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${6:-}" ]]; then work=$6; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc="dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
heads=$(( dim / 64 ))
[[ -f "$work/fp32.onnx" ]] || $modelc import synthetic-llama --dim "$dim" --hidden "$hidden" --layers "$layers" --heads "$heads" --kv-heads "$heads" \
  --vocab "$vocab" --seed 1 --spike-layers 0,$(( layers - 1 )) --output "$work/fp32.onnx" >&2
echo "{\"model_bytes\": $(du -cb "$work"/fp32.onnx* | tail -1 | cut -f1)}"

source "$root/bench/lib/compile-json.sh"
compile() { # name, policy yaml, fallback
  cat > "$work/$1.yaml" <<YAML
target: cpu
calibration:
  generated: { tokens: $tokens, seed: 1 }
evaluation:
  generated: { tokens: $tokens, seed: 2 }
policy:
$2
fallback: $3
YAML
  compile_json "$1" "$work/fp32.onnx" "$work/$1.yaml"
}
compile int8 "  kind: all-int8" fp32
compile mixed "  kind: spike" fp32
compile fp16 "  kind: none" fp16
[[ -n "${COMPILE_ONLY:-}" ]] && exit 0

$modelc bench "$work/fp32.onnx" --compare "$work/int8.onnx" "$work/mixed.onnx" "$work/fp16.onnx" \
  --prefill 256 --decode 32 --threads 2 --repeats 5 --profile "$work/profiles" --json
