# Sourced by the bench scripts (not run by itself): the setup they share.
# Needs $root (the repository). bench_setup [work]: sets $work (the given folder, kept; else a temporary one removed
# on exit), builds modelc in Release and sets $modelc (under nice when NICE=1).
# import_synthetic DIM HIDDEN LAYERS VOCAB [extra import options...]: writes $work/fp32.onnx (heads = dim / 64, seed 1)
# unless it is already there.
bench_setup() {
  if [[ -n "${1:-}" ]]; then work=$1; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
  dotnet build "$root/src/ModelCompiler.Cli" -c Release -v q -nologo >/dev/null
  modelc="${NICE:+nice }dotnet $root/src/ModelCompiler.Cli/bin/Release/net10.0/modelc.dll"
}

import_synthetic() {
  local dim=$1 hidden=$2 layers=$3 vocab=$4; shift 4
  local heads=$(( dim / 64 ))
  [[ -f "$work/fp32.onnx" ]] || $modelc import synthetic-llama --dim "$dim" --hidden "$hidden" --layers "$layers" --heads "$heads" --kv-heads "$heads" \
    --vocab "$vocab" --seed 1 "$@" --output "$work/fp32.onnx" >&2
}
