#!/usr/bin/env bash
# Reproduces the built-in ALMP predictor (src/ModelCompiler.Core/Policies/builtin.predictor) from data this
# repository can produce: stories260K under several calibration texts and sizes, and synthetic LLaMA-style models
# of other widths and depths with planted activation spikes. Writes the per-run sensitivity CSVs and the pooled
# training set to bench/predictor/data/, then trains (logistic regression vs FastTree, folds of whole models).
# Usage: bench/predictor/train-builtin.sh [--no-install]   (about 5-10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
shared="$root/../shared"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data="$root/bench/predictor/data"
rm -rf "$data" && mkdir -p "$data"

dotnet build src/ModelCompiler.Cli -c Release -v q -nologo >/dev/null
modelc() { dotnet "$root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll" "$@"; }

# --- stories260K: one model (one cross-validation group), several calibration texts and sizes ---
modelc import llama2c "$shared/models/stories260K/stories260K.bin" --tokenizer "$shared/models/stories260K/tok512.bin" --output "$work/stories260K.onnx" 2>/dev/null
python3 - "$shared/corpora" "$work" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
t = open(f"{src}/tinystories_valid_excerpt.txt", encoding="utf-8").read()
h = len(t) // 2
open(f"{out}/valid_a.txt", "w", encoding="utf-8").write(t[:h])
open(f"{out}/valid_b.txt", "w", encoding="utf-8").write(t[h:])
m = open(f"{src}/moby-dick.txt", encoding="utf-8").read()
open(f"{out}/moby.txt", "w", encoding="utf-8").write(m[200000:260000])
PY
cp "$shared/corpora/tinystories_sample.txt" "$work/sample.txt"
run=0
for text in valid_a valid_b sample moby; do
  for tokens in 1024 4096; do
    run=$((run + 1))
    printf 'calibration: { text: %s.txt, max_tokens: %s }\n' "$text" "$tokens" > "$work/s$run.yaml"
    echo "stories260K: $text, $tokens tokens" >&2
    modelc sensitivity --model "$work/stories260K.onnx" --spec "$work/s$run.yaml" --group stories260K \
      --probe-tokens "$tokens" --output "$data/stories260K-$text-$tokens.csv" 2>/dev/null
  done
done

# --- synthetic models: widths, depths, GQA, spikes; data-free calibration on tokens sampled from each model ---
# name dim hidden layers heads kv vocab seed spikes strength heavy-tail-layers
while read -r name dim hidden layers heads kv vocab seed spikes strength tails; do
  spikeArgs=()
  [ "$spikes" != "-" ] && spikeArgs=(--spike-layers "$spikes")
  [ "${tails:--}" != "-" ] && spikeArgs+=(--heavy-tail-layers "$tails")
  modelc import synthetic-llama --dim "$dim" --hidden "$hidden" --layers "$layers" --heads "$heads" --kv-heads "$kv" \
    --vocab "$vocab" --seed "$seed" "${spikeArgs[@]}" --spike-strength "$strength" --output "$work/$name.onnx" 2>/dev/null
  printf 'calibration: { generated: { tokens: 2048, seed: 1 } }\n' > "$work/$name.yaml"
  echo "synthetic $name" >&2
  modelc sensitivity --model "$work/$name.onnx" --spec "$work/$name.yaml" --group "$name" --probe-tokens 2048 \
    --output "$data/$name.csv" 2>/dev/null
done <<'MODELS'
syn-64x5-s03     64  172 5 8 4  512 11 0,3   1
syn-64x5-s1      64  172 5 8 4  512 12 1     1
syn-64x5-none    64  172 5 8 4  512 13 -     1
syn-64x5-s13m    64  172 5 8 4  512 14 1,3   0.1
syn-64x5-s24m    64  172 5 8 4  512 15 2,4   0.25
syn-96x4-s0      96  256 4 6 6  768 21 0     1
syn-96x4-s2m     96  256 4 6 6  768 22 2     0.5
syn-128x4-s3     128  344 4 8 4 1024 31 3    1
syn-128x6-s05   128  344 6 8 8 1024 32 0,5   1
syn-128x6-none  128  344 6 8 8 1024 33 -     1
syn-128x6-s14m  128  344 6 8 8 1024 34 1,4   0.15
syn-192x3-s12   192  512 3 6 2 1024 41 1,2   1
syn-192x3-s0m   192  512 3 6 2 1024 42 0     0.3
syn-64x5-t13     64  172 5 8 4  512 51 -     1    1,3
syn-96x4-t0      96  256 4 6 6  768 52 -     1    0
syn-128x6-t25   128  344 6 8 8 1024 53 -     1    2,5
syn-128x4-t1s3  128  344 4 8 4 1024 54 3     0.25 1
syn-192x3-t2    192  512 3 6 2 1024 55 -     1    2
MODELS

modelc train-predictor "$data"/*.csv --output src/ModelCompiler.Core/Policies/builtin.predictor --json > "$data/cross-validation.json"
cat "$data/cross-validation.json"
