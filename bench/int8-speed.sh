#!/usr/bin/env bash
# Benchmark (not a test): does INT8 pay off on this CPU at a realistic layer size?
# stories260K (dim 64) is too small for integer kernels to matter, so this makes a synthetic llama2.c
# checkpoint (random weights; dim 512, hidden 1376, 8 layers, vocab 512), quantizes it data-free, and
# prints fp32 vs INT8 time per 256-token window as measured by modelc's validation (median of runs).
# Usage: bench/int8-speed.sh [runs=3]
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
modelc="dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
python3 - "$work/synthetic.bin" <<'PY'
import array, math, random, struct, sys
dim, hidden, layers, heads, kv_heads, vocab, seq = 512, 1376, 8, 8, 8, 512, 512
rng = random.Random(1)
def mat(n, scale): return array.array("f", (rng.gauss(0, scale) for _ in range(n)))
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("7i", dim, hidden, layers, heads, kv_heads, vocab, seq))
    mat(vocab * dim, 1.0).tofile(f)
    for n, s in [(dim, 0), (dim * dim, 1 / math.sqrt(dim)), (dim * dim, 1 / math.sqrt(dim)), (dim * dim, 1 / math.sqrt(dim)),
                 (dim * dim, 1 / math.sqrt(dim)), (dim, 0), (hidden * dim, 1 / math.sqrt(dim)), (dim * hidden, 1 / math.sqrt(hidden)),
                 (hidden * dim, 1 / math.sqrt(dim))]:
        for _ in range(layers):
            (array.array("f", [1.0] * n) if s == 0 else mat(n, s)).tofile(f)
    array.array("f", [1.0] * dim).tofile(f)
    hd = dim // heads
    cos = array.array("f"); sin = array.array("f")
    for p in range(seq):
        for i in range(hd // 2):
            a = p * 10000 ** (-2 * i / hd)
            cos.append(math.cos(a)); sin.append(math.sin(a))
    cos.tofile(f); sin.tofile(f)
PY
$modelc import llama2c "$work/synthetic.bin" --output "$work/synthetic.onnx" 2>/dev/null
cat > "$work/spec.yaml" <<YAML
calibration: { generated: { tokens: 1024, seed: 1 } }
evaluation: { generated: { tokens: 2048, seed: 2 } }
policy: { kind: all-int8 }
YAML
for i in $(seq "$runs"); do
  $modelc compile --model "$work/synthetic.onnx" --spec "$work/spec.yaml" --output "$work/out/q.onnx" --json 2>/dev/null > "$work/run$i.json"
done
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
cpu = [p for i in range(1, runs + 1) for p in json.load(open(f"{work}/run{i}.json"))["providers"] if p["name"] == "cpu"]
f = statistics.median(p["fp32_ms_per_window"] for p in cpu)
q = statistics.median(p["quantized_ms_per_window"] for p in cpu)
print(f"synthetic llama (dim 512, hidden 1376, 8 layers), 256-token windows, one intra-op thread, {runs} runs (median)")
print(f"  fp32 {f:.1f} ms, INT8 QDQ {q:.1f} ms per window: fp32/INT8 = {f / q:.2f}x")
PY
