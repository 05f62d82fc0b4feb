# Sourced by the bench scripts (not run by itself). Needs $modelc (the command) and $work (a folder).
# compile_json NAME MODEL SPEC: compiles MODEL with SPEC into $work/NAME.onnx (2 threads, gates as warnings, --json)
# under /usr/bin/time, then prints one JSON line of its figures: wall and forward seconds, the stages, peak RSS
# (modelc's per-stage VmHWM and /usr/bin/time's maximum, which only covers the last stage because modelc resets
# the high-water mark between stages), each over the fp32 model's bytes, and the validation metrics.
# Skips a model already compiled ($work/NAME.onnx exists).
compile_json() {
  local name=$1 model=$2 spec=$3
  [[ -f "$work/$name.onnx" ]] && return 0
  /usr/bin/time -f '%M %e' -o "$work/$name.time" \
    $modelc compile --model "$model" --spec "$spec" -o "$work/$name.onnx" --threads 2 --gates-as-warnings --json \
    2> "$work/$name.err" > "$work/$name.json"
  python3 - "$name" "$work/$name.json" "$work/$name.time" "$(du -cb "$model"* | tail -1 | cut -f1)" <<'PY'
import json, sys
name, j, (rss_kb, wall), size = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read().split(), int(sys.argv[4])
p = j["providers"][0]
print(json.dumps({"name": name, "model_bytes": size, "int8_layers": j["int8_layers"], "layers": j["layers"],
                  "wall_seconds": j["wall_seconds"], "forward_seconds": j["forward_seconds"],
                  "wall_over_forward": round(j["wall_seconds"] / j["forward_seconds"], 2),
                  "peak_rss_bytes": j["peak_rss_bytes"], "peak_rss_over_model": round(j["peak_rss_bytes"] / size, 3),
                  "peak_rss_over_model_by_stage": {k: round(v / size, 3) for k, v in j["peak_rss_bytes_by_stage"].items()},
                  "process_peak_rss_bytes": int(rss_kb) * 1024, "process_wall_seconds": float(wall),
                  "timings_seconds": j["timings_seconds"], "peak_rss_bytes_by_stage": j["peak_rss_bytes_by_stage"],
                  "perplexity_increase_pct": p["perplexity_increase_pct"], "mean_kl": p["mean_kl_divergence"], "top1": p["top1_agreement"]}))
PY
  tail -1 "$work/$name.err" >&2
}
