#!/usr/bin/env bash
# Benchmark (not a test): what a compile of a large model costs in memory and time (docs/performance.md, "What a compile costs").
# Usage: bench/compile-memory.sh [dim=2048] [hidden=5632] [layers=4] [vocab=32000] [tokens=2048] [work=$(mktemp -d)]
#   e.g. bench/compile-memory.sh 2048 5632 22 32000 256     # the ~1.1 B-parameter model (4.4 GB fp32; needs ~7 GB RAM, ~10 GB disk)
# Makes a synthetic LLaMA (external data), compiles it all-INT8 data-free on `tokens` calibration + `tokens` evaluation
# tokens with 2 threads, and prints one JSON line: model bytes, wall and forward seconds, stage timings, the compile's
# peak RSS (modelc's per-stage VmHWM and /usr/bin/time's maximum) and their ratios to the fp32 model's size.
# Runs under nice; the work folder (model, outputs) is removed at the end unless `work` is given.
set -euo pipefail
dim=${1:-2048} hidden=${2:-5632} layers=${3:-4} vocab=${4:-32000} tokens=${5:-2048}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${6:-}" ]]; then work=$6; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc="nice dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
heads=$(( dim / 64 ))
[[ -f "$work/fp32.onnx" ]] || $modelc import synthetic-llama --dim "$dim" --hidden "$hidden" --layers "$layers" --heads "$heads" --kv-heads "$heads" \
  --vocab "$vocab" --seed 1 --external-data --output "$work/fp32.onnx" >&2
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
/usr/bin/time -f '%M %e' -o "$work/int8.time" \
  $modelc compile --model "$work/fp32.onnx" --spec "$work/int8.yaml" -o "$work/out/int8.onnx" --threads 2 --gates-as-warnings --json \
  2> "$work/int8.err" > "$work/int8.json"
python3 - "$work/int8.json" "$work/int8.time" "$(du -cb "$work"/fp32.onnx* | tail -1 | cut -f1)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); rss_kb, wall = open(sys.argv[2]).read().split(); size = int(sys.argv[3])
p = j["providers"][0]
print(json.dumps({"model_bytes": size, "wall_seconds": j["wall_seconds"], "forward_seconds": j["forward_seconds"],
                  "wall_over_forward": round(j["wall_seconds"] / j["forward_seconds"], 2),
                  "peak_rss_bytes": j["peak_rss_bytes"], "peak_rss_over_model": round(j["peak_rss_bytes"] / size, 3),
                  "process_peak_rss_bytes": int(rss_kb) * 1024, "process_peak_rss_over_model": round(int(rss_kb) * 1024 / size, 3),
                  "process_wall_seconds": float(wall), "timings_seconds": j["timings_seconds"], "peak_rss_bytes_by_stage": j["peak_rss_bytes_by_stage"],
                  "perplexity_increase_pct": p["perplexity_increase_pct"], "mean_kl": p["mean_kl_divergence"], "top1": p["top1_agreement"]}))
PY
