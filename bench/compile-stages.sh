#!/usr/bin/env bash
# Benchmark (not a test): compile time per stage and fp32 vs INT8 latency for stories260K.
# Usage: bench/compile-stages.sh [runs=3]
# Prints the median seconds per stage over the runs and the validation latency ratio. Machines are shared
# and noisy: compare ratios, not absolute seconds.
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
shared="$root/../shared"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc="dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
$modelc import llama2c "$shared/models/stories260K/stories260K.bin" --tokenizer "$shared/models/stories260K/tok512.bin" --output "$work/stories260K.onnx" 2>/dev/null
head -c 64000 "$shared/corpora/tinystories_valid_excerpt.txt" > "$work/calib.txt"
tail -c 64000 "$shared/corpora/tinystories_valid_excerpt.txt" > "$work/eval.txt"
cat > "$work/spec.yaml" <<YAML
calibration: { text: calib.txt, max_tokens: 8192 }
evaluation: { text: eval.txt, max_tokens: 8192 }
policy: { kind: all-int8 }
YAML

for i in $(seq "$runs"); do
  $modelc compile --model "$work/stories260K.onnx" --spec "$work/spec.yaml" --output "$work/out/q.onnx" --json 2>/dev/null > "$work/run$i.json"
done
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
results = [json.load(open(f"{work}/run{i}.json")) for i in range(1, runs + 1)]
print(f"stories260K, all-int8, 8192 calibration + 8192 evaluation tokens, {runs} runs (median)")
for stage in results[0]["timings_seconds"]:
    print(f"  {stage:<10} {statistics.median(r['timings_seconds'][stage] for r in results):7.3f} s")
print(f"  {'total':<10} {statistics.median(sum(r['timings_seconds'].values()) for r in results):7.3f} s")
cpu = [p for r in results for p in r["providers"] if p["name"] == "cpu"]
f = statistics.median(p["fp32_ms_per_window"] for p in cpu)
q = statistics.median(p["quantized_ms_per_window"] for p in cpu)
print(f"  latency per 256-token window on CPU: fp32 {f:.2f} ms, INT8 {q:.2f} ms, ratio fp32/INT8 {f / q:.2f}x")
print(f"  perplexity increase {cpu[0]['perplexity_increase_pct']:+.3f}%")
PY
