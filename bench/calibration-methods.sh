#!/usr/bin/env bash
# Measures calibration.method (minmax, percentile, entropy) on stories260K: calibrated on the first half of
# tinystories_valid_excerpt.txt (4096 tokens), evaluated on the second half (4096 tokens), all-int8 and spike.
# Prints a Markdown table (docs/calibration-methods.md holds the last run). About a minute on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared="$root/../shared"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc="dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
$modelc import llama2c "$shared/models/stories260K/stories260K.bin" --tokenizer "$shared/models/stories260K/tok512.bin" --output "$work/stories260K.onnx" 2>/dev/null
python3 - "$shared/corpora/tinystories_valid_excerpt.txt" "$work" <<'PY'
import sys
t = open(sys.argv[1], encoding="utf-8").read(); h = len(t) // 2
open(f"{sys.argv[2]}/calib.txt", "w", encoding="utf-8").write(t[:h])
open(f"{sys.argv[2]}/eval.txt", "w", encoding="utf-8").write(t[h:])
PY
echo "| method | policy | INT8 layers | fp32 ppl | quantized ppl | increase | mean KL | top-1 agreement |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for method in "minmax" "percentile, percentile: 99.99" "percentile, percentile: 99.9" "entropy"; do
  for policy in all-int8 spike; do
    cat > "$work/spec.yaml" <<YAML
calibration: { text: calib.txt, max_tokens: 4096, method: $method }
evaluation: { text: eval.txt, max_tokens: 4096 }
policy: { kind: $policy }
YAML
    $modelc compile --model "$work/stories260K.onnx" --spec "$work/spec.yaml" --output "$work/q.onnx" --json 2>/dev/null > "$work/r.json"
    python3 - "$work/r.json" "$method" "$policy" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = r["providers"][0]
print(f"| {sys.argv[2].replace(', percentile: ', ' ')} | {sys.argv[3]} | {r['int8_layers']}/{r['layers']} | {p['fp32_perplexity']:.4f} | {p['quantized_perplexity']:.4f} | {p['perplexity_increase_pct']:+.3f}% | {p['mean_kl_divergence']:.6f} | {100 * p['top1_agreement']:.2f}% |")
PY
  done
done
