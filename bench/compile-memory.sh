#!/usr/bin/env bash
# Benchmark (not a test): what a compile of a large model costs in memory and time (docs/performance.md, "What a compile costs").
# Usage: bench/compile-memory.sh [dim=2048] [hidden=5632] [layers=4] [vocab=32000] [tokens=2048] [work=$(mktemp -d)]
#   e.g. bench/compile-memory.sh 2048 5632 22 32000 256     # the ~1.1 B-parameter model (4.4 GB fp32; needs ~7 GB RAM, ~10 GB disk)
# Makes a synthetic LLaMA (external data), compiles it all-INT8 data-free on `tokens` calibration + `tokens` evaluation
# tokens with 2 threads (CALIBRATION=text: on real text through a 32000-token tokenizer.json instead), and prints one
# JSON line (bench/lib/compile-json.sh): wall and forward seconds, stage timings, peak RSS and its ratio to the model.
# Runs under nice; the work folder (model, outputs) is removed at the end unless `work` is given.
set -euo pipefail
dim=${1:-2048} hidden=${2:-5632} layers=${3:-4} vocab=${4:-32000} tokens=${5:-2048}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib/synthetic.sh"
NICE=1 bench_setup "${6:-}"
import_synthetic "$dim" "$hidden" "$layers" "$vocab" --external-data
source "$root/bench/lib/compile-json.sh"
if [[ "${CALIBRATION:-generated}" == text ]]; then
  # Text through the LLaMA tokenizer.json of the GenAI test model (32000 tokens, the synthetic model's vocabulary):
  # calibration on Moby-Dick, evaluation on TinyStories, `tokens` of each. No sampling stage.
  [[ "$vocab" == 32000 ]] || { echo "CALIBRATION=text needs --vocab 32000 (the tokenizer's)" >&2; exit 2; }
  shared=$(cd "$root/../shared" && pwd)
  cat > "$work/text.yaml" <<YAML
target: cpu
calibration:
  text: $shared/corpora/moby-dick.txt
  tokenizer: $shared/models/thirdparty/genai-tiny-random-llama-fp16/tokenizer.json
  max_tokens: $tokens
evaluation:
  text: $shared/corpora/tinystories_valid_excerpt.txt
  tokenizer: $shared/models/thirdparty/genai-tiny-random-llama-fp16/tokenizer.json
  max_tokens: $tokens
policy:
  kind: all-int8
fallback: fp32
YAML
  compile_json text "$work/fp32.onnx" "$work/text.yaml"
else
  cat > "$work/int8.yaml" <<YAML
target: cpu
calibration:
  generated: { tokens: $tokens, seed: 1 }
evaluation:
  generated: { tokens: $tokens, seed: 2 }
policy:
  kind: all-int8
fallback: fp32
YAML
  compile_json int8 "$work/fp32.onnx" "$work/int8.yaml"
fi
