#!/usr/bin/env bash
# Benchmark (not a test): what `modelc import synthetic-llama` costs in memory and time (docs/performance.md).
# Usage: bench/import-memory.sh [dim=2048] [hidden=5632] [layers=4] [vocab=32000] [work=$(mktemp -d)]
#   e.g. bench/import-memory.sh 2048 5632 22 32000     # the 1.2 B-parameter model (4.78 GB fp32 on disk)
# Set MODELC=/path/to/modelc.dll to measure another build (default: this tree's Release build, built first).
# Writes the model with external data (heads = dim / 64, seed 1) and prints one JSON line: the files' size, the
# process's peak RSS and wall time (/usr/bin/time), and peak RSS over the model's size. Runs under nice; the work
# folder is removed at the end unless `work` is given.
set -euo pipefail
dim=${1:-2048} hidden=${2:-5632} layers=${3:-4} vocab=${4:-32000}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${5:-}" ]]; then work=$5; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
if [[ -z "${MODELC:-}" ]]; then
  dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
  MODELC="$root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
fi
heads=$(( dim / 64 ))
rm -f "$work/fp32.onnx" "$work/fp32.onnx.data"
/usr/bin/time -f '%M %e' -o "$work/import.time" \
  nice dotnet "$MODELC" import synthetic-llama --dim "$dim" --hidden "$hidden" --layers "$layers" --heads "$heads" --kv-heads "$heads" \
  --vocab "$vocab" --seed 1 --external-data --output "$work/fp32.onnx" >&2
read -r rss_kb wall < "$work/import.time"
size=$(du -cb "$work"/fp32.onnx* | tail -1 | cut -f1)
python3 -c 'import json, sys
rss, wall, size = int(sys.argv[1]) * 1024, float(sys.argv[2]), int(sys.argv[3])
print(json.dumps({"dim": int(sys.argv[4]), "hidden": int(sys.argv[5]), "layers": int(sys.argv[6]), "vocab": int(sys.argv[7]),
                  "model_bytes": size, "peak_rss_bytes": rss, "peak_rss_over_model": round(rss / size, 3), "wall_seconds": wall}))' \
  "$rss_kb" "$wall" "$size" "$dim" "$hidden" "$layers" "$vocab"
