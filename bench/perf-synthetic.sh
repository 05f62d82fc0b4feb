#!/usr/bin/env bash
# Benchmark (not a test): the figures of docs/performance.md on a synthetic LLaMA of realistic width.
# Usage: bench/perf-synthetic.sh [dim=2048] [hidden=5632] [layers=4] [vocab=32000] [tokens=512] [work=$(mktemp -d)]
#   With `work` given, the folder is kept and what is already in it (model, compiled models) is reused, so a second
#   run repeats only the timing; `COMPILE_ONLY=1` stops before the bench.
# Makes the model (random weights scaled like a trained model's, two planted spike layers), then:
#   1. compiles it all-INT8, mixed (spike policy), planted (all-INT8 but the two planted spike layers' down_proj kept
#      fp32) and all-FP16 (policy none, fallback fp16),
#      each data-free on `tokens` calibration and `tokens` evaluation tokens, printing wall / forward seconds,
#      the stages and peak RSS (from --json and /usr/bin/time);
#   2. times fp32 vs the three in one interleaved `modelc bench` run (prefill 256, decode 32, 2 threads, median of 5)
#      with an ORT profile of each.
# Needs ~8 GB of RAM at the default size. Prints JSON lines; the work folder is removed at the end.
set -euo pipefail
dim=${1:-2048} hidden=${2:-5632} layers=${3:-4} vocab=${4:-32000} tokens=${5:-512}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib/synthetic.sh"
bench_setup "${6:-}"
import_synthetic "$dim" "$hidden" "$layers" "$vocab" --spike-layers 0,$(( layers - 1 ))
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
# The issue's example of a mixed model: only the planted spike layers' FFN out-projections kept in the fallback.
compile planted "  kind: all-int8
  exclude: [model.layers.0.mlp.down_proj, model.layers.$(( layers - 1 )).mlp.down_proj]" fp32
[[ -n "${COMPILE_ONLY:-}" ]] && exit 0

$modelc bench "$work/fp32.onnx" --compare "$work/int8.onnx" "$work/mixed.onnx" "$work/planted.onnx" "$work/fp16.onnx" \
  --prefill 256 --decode 32 --threads 2 --repeats 5 --profile "$work/profiles" --json
