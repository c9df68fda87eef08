#!/usr/bin/env bash
# Ours beside PyTorch on the same shapes, threads and dtype: runs `crates/model/benches/throughput.rs` and
# `benches/torch_peer.py`, then prints one line per workload ending in `ratio=R` (ours / PyTorch).
#
#   bash benches/compare.sh                      # bench (release) profile, CPU, 2 threads on both sides
#   PROFILE=dev bash benches/compare.sh          # the dev profile the test command builds
#   PYTHON=.venv/bin/python THREADS=2 bash benches/compare.sh
#   STAGE_PRESETS="tiny smollm2-135m" bash benches/compare.sh   # also whole stage steps of the 135M shape (slow)
#
# Then a stage-2 step (GradCache) and a GRPO step (generation + rewards + update) of the trainer beside the same
# steps in PyTorch, per preset of STAGE_PRESETS (default tiny; STAGE_PRESETS= skips them), through benches/stages.sh.
# PYTHON needs torch, transformers and pyarrow (tests/fixtures/requirements-ci.txt). Extra arguments go to the Rust
# bench (e.g. `-- --device wgpu`; then also set PEER_DEVICE=cuda; the stage steps run on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
threads="${THREADS:-2}"
profile="${PROFILE:-bench}"
ours="$(mktemp)"; peer="$(mktemp)"
trap 'rm -f "$ours" "$peer"' EXIT

echo "== ours: cargo bench --profile $profile -p model --bench throughput $*" >&2
RAYON_NUM_THREADS="$threads" cargo bench --profile "$profile" -p model --bench throughput -- "$@" | tee "$ours" >&2
echo "== peer: $python benches/torch_peer.py --device ${PEER_DEVICE:-cpu} --threads $threads" >&2
"$python" benches/torch_peer.py --device "${PEER_DEVICE:-cpu}" --threads "$threads" | tee "$peer" >&2

# Reads a Markdown table: prints "config<TAB>value" for the column whose header starts with $2.
column() {
    awk -F'|' -v want="$2" '
        /^\| config/ { for (i = 1; i <= NF; i++) { h = $i; gsub(/^ +| +$/, "", h); if (index(h, want) == 1) col = i } next }
        /^\| ---/ { next }
        /^\|/ && col { c = $2; v = $col; gsub(/ /, "", c); gsub(/ /, "", v); print c "\t" v }' "$1"
}
echo
for workload in "train tok/s" "gen B"; do
    name="${workload%% *}"
    join -t $'\t' <(column "$ours" "$workload" | sort) <(column "$peer" "$workload" | sort) |
        awk -F'\t' -v w="$name" '{ printf "%s %s ours=%s peer=%s ratio=%.2f\n", w, $1, $2, $3, $2 / $3 }'
done
for preset in ${STAGE_PRESETS-tiny}; do
    echo "== stage steps, $preset: benches/stages.sh" >&2
    PRESET="$preset" STEPS="${STAGE_STEPS:-6}" STAGES=contrastive,grpo PROFILE="$profile" THREADS="$threads" \
        PYTHON="$python" bash benches/stages.sh | tee /dev/stderr | grep 'ratio='
done
