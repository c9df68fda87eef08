#!/usr/bin/env bash
# Where a training step of each stage spends its time, on this machine: warm-up (SFT), contrastive (InfoNCE with
# GradCache chunks) and GRPO (generation + rewards + update), each run alone for STEPS steps. Prints per stage the
# median over steps 2.. of `train/tokens_per_s` (query-side tokens) and of the step's wall time, and for GRPO the
# median of its parts (`time/generation_s`, `time/reward_s`, `time/update_s`) and of generated tokens/s.
#
#   bash benches/stages.sh                            # tiny preset, default shapes
#   PRESET=smollm2-135m STEPS=4 bash benches/stages.sh   # the 135M shape (vocabulary of data/tokenizer.json)
#
# There is no PyTorch/TRL peer for whole stages here; `benches/compare.sh` compares the model-level workloads.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PRESET:-tiny}"; steps="${STEPS:-8}"; profile="${PROFILE:-dev}"
cargo build --profile "$profile" -p trainer >&2
dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$dir/$([ "$profile" = dev ] && echo debug || echo "$profile")/trainer"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

stage() {  # $1 = kind; prints the [[stage]] table of a bench run of that kind
    case "$1" in
    warmup) cat <<TOML
[[stage]]
name = "warmup"
kind = "warmup"
train = ["data/train_warmup.parquet"]
steps = $steps
batch_size = 8
[stage.limits]
query = 48
reasoning = 32
TOML
    ;;
    contrastive) cat <<TOML
[[stage]]
name = "contrastive"
kind = "contrastive"
train = ["data/train_contrastive.parquet"]
steps = $steps
batch_size = 8
[stage.limits]
query = 48
reasoning = 32
document = 128
[stage.loss]
hard_negatives = 2
gradcache_chunk = 4
TOML
    ;;
    grpo) cat <<TOML
[[stage]]
name = "grpo"
kind = "grpo"
train = ["data/train_grpo.parquet"]
steps = $steps
batch_size = 4
[stage.limits]
query = 48
document = 128
[stage.grpo]
group_size = 8
[stage.grpo.sampling]
max_new_tokens = 32
TOML
    ;;
    esac
}

echo "preset $preset, $steps steps per stage, profile $profile, $(nproc) cores; medians over steps 2..$steps"
echo "| stage | tok/s | step s | generation s | reward s | update s | generated tok/s |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for kind in warmup contrastive grpo; do
    run="$work/$kind"
    { printf '[run]\nname = "stage-bench"\noutput = "%s"\ncheckpoint_every = 0\n[model]\npreset = "%s"\n' "$run" "$preset"
      printf 'tokenizer = "data/tokenizer.json"\n'; stage "$kind"; } > "$work/$kind.toml"
    "$bin" --recipe "$work/$kind.toml" > "$work/$kind.log" 2>&1 || { cat "$work/$kind.log" >&2; exit 1; }
    python3 - "$run/metrics.jsonl" "$kind" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train/loss"' in l]
rows = [r for r in rows if r["step"] > 1]
def med(key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    digits = 0 if key.endswith("per_s") else 3
    return f"{statistics.median(vals):.{digits}f}" if vals else "-"
parts = ["time/step_s", "time/generation_s", "time/reward_s", "time/update_s", "time/generated_tokens_per_s"]
print(f"| {sys.argv[2]} | {med('train/tokens_per_s')} | " + " | ".join(med(k) for k in parts) + " |")
PY
done
