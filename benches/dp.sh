#!/usr/bin/env bash
# Data-parallel scaling on this machine: the warm-up stage with one process (batch 2B, THREADS threads) beside
# two MPI ranks (batch B each, THREADS/2 threads each) — the same job, the same examples per step. Prints per
# configuration the median tokens/s over the timed steps (the first step is excluded), peak RSS, and for two ranks
# the median all-reduce time and its share of the step.
#
#   bash benches/dp.sh                          # tiny preset, B = 8, 12 steps
#   PRESET=smollm2-135m B=2 STEPS=6 bash benches/dp.sh
#
# Needs the trainer built with `--features mpi` (built here, PROFILE default `dev` = the test command's build).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PRESET:-tiny}"; b="${B:-8}"; steps="${STEPS:-12}"; threads="${THREADS:-2}"; profile="${PROFILE:-dev}"
cargo build --profile "$profile" -p trainer --features mpi >&2
dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$dir/$([ "$profile" = dev ] && echo debug || echo "$profile")/trainer"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

recipe() {  # $1 = run folder, $2 = per-process batch
    cat <<TOML
[run]
name = "dp-bench"
output = "$1"
checkpoint_every = 0
[model]
preset = "$preset"
tokenizer = "data/tokenizer.json"
[[stage]]
name = "warmup"
kind = "warmup"
train = ["data/train_warmup.parquet"]
steps = $steps
batch_size = $2
[stage.limits]
query = 48
reasoning = 64
TOML
}

# Median of a metric over steps 2.. of a run's metrics.jsonl.
median() {
    python3 - "$1" "$2" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
values = [r[sys.argv[2]] for r in rows if sys.argv[2] in r and r["step"] > 1]
print(f"{statistics.median(values):.4f}" if values else "nan")
PY
}

for ranks in 1 2; do
    run="$work/r$ranks"
    recipe "$run" $((2 * b / ranks)) > "$work/r$ranks.toml"
    per_rank_threads=$((threads / ranks > 0 ? threads / ranks : 1))
    launch=("$bin"); [ "$ranks" -gt 1 ] && launch=(mpirun -np "$ranks" --oversubscribe --bind-to none "$bin")
    /usr/bin/time -f "%M" -o "$work/rss$ranks" env RAYON_NUM_THREADS="$per_rank_threads" \
        "${launch[@]}" --recipe "$work/r$ranks.toml" 2> "$work/log$ranks" >/dev/null \
        || { cat "$work/log$ranks" >&2; exit 1; }
    tps="$(median "$run/metrics.jsonl" train/tokens_per_s)"
    line="dp_$preset ranks=$ranks batch=$((2 * b)) threads_per_rank=$per_rank_threads tokens_per_s=$tps"
    line="$line peak_rss_mb=$(( $(cat "$work/rss$ranks") / 1024 ))"
    if [ "$ranks" -gt 1 ]; then
        reduce="$(median "$run/metrics.jsonl" time/allreduce_s)"; step="$(median "$run/metrics.jsonl" time/step_s)"
        line="$line allreduce_ms=$(python3 -c "print(f'{1000*$reduce:.1f}')") share=$(python3 -c "print(f'{$reduce/$step:.3f}')")"
    fi
    echo "$line"
done
