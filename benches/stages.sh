#!/usr/bin/env bash
# Where a training step of each stage spends its time, on this machine: warm-up (SFT), contrastive (InfoNCE with
# GradCache chunks) and GRPO (generation + rewards + update), each run alone for STEPS steps. Prints per stage the
# median over steps 2.. of `train/tokens_per_s` (query-side tokens) and of the step's wall time, and for GRPO the
# median of its parts (`time/generation_s`, `time/reward_s`, `time/update_s`) and of generated tokens/s.
# With PYTHON set (torch, transformers, pyarrow), `benches/stage_peer.py` then takes the same steps in PyTorch on the
# same data, limits, shapes and threads, and one line per stage ends in `ratio=R` (peer step s / our step s).
#
#   bash benches/stages.sh                            # tiny preset, default shapes
#   PRESET=smollm2-135m STEPS=4 bash benches/stages.sh   # the 135M shape (vocabulary of data/tokenizer.json)
#   PYTHON=.venv/bin/python STAGES=contrastive,grpo bash benches/stages.sh   # with the PyTorch peer
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PRESET:-tiny}"; steps="${STEPS:-8}"; profile="${PROFILE:-dev}"; kinds="${STAGES:-warmup,contrastive,grpo}"
threads="${THREADS:-2}"
# The shapes, shared by the recipes below and the peer.
batch=8; grpo_batch=4; query=48; reasoning=32; document=128; hard_negatives=2; chunk=4; group=8; new_tokens=32
cargo build --profile "$profile" -p trainer >&2
dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
case "$profile" in dev | test) out=debug ;; release | bench) out=release ;; *) out="$profile" ;; esac
bin="$dir/$out/trainer"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

stage() {  # $1 = kind; prints the [[stage]] table of a bench run of that kind
    case "$1" in
    warmup) cat <<TOML
[[stage]]
name = "warmup"
kind = "warmup"
train = ["data/train_warmup.parquet"]
steps = $steps
batch_size = $batch
[stage.limits]
query = $query
reasoning = $reasoning
TOML
    ;;
    contrastive) cat <<TOML
[[stage]]
name = "contrastive"
kind = "contrastive"
train = ["data/train_contrastive.parquet"]
steps = $steps
batch_size = $batch
[stage.limits]
query = $query
reasoning = $reasoning
document = $document
[stage.loss]
hard_negatives = $hard_negatives
gradcache_chunk = $chunk
TOML
    ;;
    grpo) cat <<TOML
[[stage]]
name = "grpo"
kind = "grpo"
train = ["data/train_grpo.parquet"]
steps = $steps
batch_size = $grpo_batch
[stage.limits]
query = $query
document = $document
[stage.grpo]
group_size = $group
diagnostics_every = 0
[stage.grpo.sampling]
max_new_tokens = $new_tokens
TOML
    ;;
    esac
}

ours="$work/ours.md"
echo "preset $preset, $steps steps per stage, profile $profile, $threads threads; medians over steps 2..$steps"
echo "| stage | tok/s | step s | generation s | reward s | update s | generated tok/s | completion length |" | tee "$ours"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for kind in ${kinds//,/ }; do
    run="$work/$kind"
    { printf '[run]\nname = "stage-bench"\noutput = "%s"\ncheckpoint_every = 0\n[model]\npreset = "%s"\n' "$run" "$preset"
      printf 'tokenizer = "data/tokenizer.json"\n'; stage "$kind"; } > "$work/$kind.toml"
    RAYON_NUM_THREADS="$threads" "$bin" --recipe "$work/$kind.toml" > "$work/$kind.log" 2>&1 ||
        { cat "$work/$kind.log" >&2; exit 1; }
    python3 - "$run/metrics.jsonl" "$kind" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train/loss"' in l]
rows = [r for r in rows if r["step"] > 1]
def med(key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    digits = 0 if key.endswith("per_s") else 3
    return f"{statistics.median(vals):.{digits}f}" if vals else "-"
parts = ["time/step_s", "time/generation_s", "time/reward_s", "time/update_s", "time/generated_tokens_per_s",
         "train/completion_length_mean"]
print(f"| {sys.argv[2]} | {med('train/tokens_per_s')} | " + " | ".join(med(k) for k in parts) + " |")
PY
done | tee -a "$ours"

[ -n "${PYTHON:-}" ] || exit 0
peer="$work/peer.md"
echo "== peer: $PYTHON benches/stage_peer.py --preset $preset" >&2
"$PYTHON" benches/stage_peer.py --preset "$preset" --stages "$kinds" --steps "$steps" --threads "$threads" \
    --batch-size "$batch" --grpo-batch-size "$grpo_batch" --query "$query" --reasoning "$reasoning" \
    --document "$document" --hard-negatives "$hard_negatives" --gradcache-chunk "$chunk" --group-size "$group" \
    --new-tokens "$new_tokens" | tee "$peer" >&2
# "stage<TAB>step s" of a table; $2 is the awk field of "step s" (field 1 is the empty one before the first `|`).
step_s() {
    awk -F'|' -v c="$2" '/^\| [a-z]/ && $2 !~ /stage/ { s = $2; v = $c; gsub(/ /, "", s); gsub(/ /, "", v); print s "\t" v }' "$1"
}
join -t $'\t' <(step_s "$ours" 4 | sort) <(step_s "$peer" 3 | sort) |
    awk -F'\t' -v p="$preset" '{ printf "stage %s %s ours=%ss peer=%ss ratio=%.2f\n", $1, p, $2, $3, $3 / $2 }'
