#!/usr/bin/env bash
# Checks the built-in predictor on a trained model it never saw: trains a second small LLaMA (the stories260K
# architecture, tok512 tokenizer) on Moby-Dick, then compiles it with all-int8, spike and almp (built-in predictor):
# calibrated on one part of the book, evaluated on a later part that neither training nor calibration saw.
# Acceptance (issue 11): almp keeps >= 80% of the layers INT8 with at most half of all-int8's perplexity increase.
# Needs PyTorch for /usr/bin/python3 (Debian: apt-get install python3-torch). About 15 minutes on 2 cores (Debian's PyTorch is slow).
# Usage: bench/predictor/second-model.sh [training-steps=500]
set -euo pipefail
steps=${1:-500}
root=$(cd "$(dirname "$0")/../.." && pwd)
shared="$root/../shared"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$shared/corpora/moby-dick.txt" "$work" <<'PY'
import sys
t = open(sys.argv[1], encoding="utf-8").read()
open(f"{sys.argv[2]}/train.txt", "w", encoding="utf-8").write(t[:800000])
open(f"{sys.argv[2]}/calib.txt", "w", encoding="utf-8").write(t[800000:1000000])
open(f"{sys.argv[2]}/eval.txt", "w", encoding="utf-8").write(t[1000000:])
PY
# MOBY_TOKENS: a token cache from an earlier run (train_tiny_llama.py writes <out>.tokens.pt) skips a minute of tokenizing.
if [ -n "${MOBY_TOKENS:-}" ]; then cp "$MOBY_TOKENS" "$work/moby260K.bin.tokens.pt"; fi
/usr/bin/python3 "$root/bench/predictor/train_tiny_llama.py" "$work/train.txt" "$shared/models/stories260K/tok512.bin" "$work/moby260K.bin" "$steps"
dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc() { dotnet "$root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll" "$@"; }
modelc import llama2c "$work/moby260K.bin" --tokenizer "$shared/models/stories260K/tok512.bin" --output "$work/moby260K.onnx" 2>/dev/null
echo "| policy | INT8 layers | fp32 ppl | quantized ppl | increase | mean KL | kept out of INT8 |"
echo "|---|---:|---:|---:|---:|---:|---|"
for policy in all-int8 spike almp; do
  printf 'calibration: { text: calib.txt, max_tokens: 4096, context: 128 }\nevaluation: { text: eval.txt, max_tokens: 8192, context: 128 }\npolicy: { kind: %s }\n' "$policy" > "$work/$policy.yaml"
  modelc compile --model "$work/moby260K.onnx" --spec "$work/$policy.yaml" --output "$work/$policy.onnx" --json 2>/dev/null > "$work/$policy.json"
  python3 - "$work/$policy.json" "$work/$policy.manifest.json" "$policy" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2])); p = r["providers"][0]
kept = [l["name"].replace("model.layers.", "") for l in m["layers"] if l["decision"] != "int8"]
print(f"| {sys.argv[3]} | {r['int8_layers']}/{r['layers']} | {p['fp32_perplexity']:.4f} | {p['quantized_perplexity']:.4f} | {p['perplexity_increase_pct']:+.3f}% | {p['mean_kl_divergence']:.6f} | {', '.join(kept) or '—'} |")
PY
done
