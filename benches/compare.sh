#!/usr/bin/env bash
# Ours beside PyTorch on the same shapes, threads and dtype: runs `crates/model/benches/throughput.rs` and
# `benches/torch_peer.py`, then prints one line per workload ending in `ratio=R` (ours / PyTorch).
#
#   bash benches/compare.sh                      # bench (release) profile, CPU, 2 threads on both sides, 3 rounds
#   PROFILE=dev bash benches/compare.sh          # the dev profile the test command builds
#   PYTHON=.venv/bin/python THREADS=2 ROUNDS=1 bash benches/compare.sh
#   STAGE_PRESETS="tiny smollm2-135m" bash benches/compare.sh   # also whole stage steps of the 135M shape (slow)
#
# Then a stage-2 step (GradCache) and a GRPO step (generation + rewards + update) of the trainer beside the same
# steps in PyTorch, per preset of STAGE_PRESETS (default tiny; STAGE_PRESETS= skips them), through benches/stages.sh.
# PYTHON needs torch, transformers and pyarrow (tests/fixtures/requirements-ci.txt). Extra arguments go to the Rust
# bench (e.g. `-- --device wgpu`; then also set PEER_DEVICE=cuda; the stage steps run on the CPU).
#
# Shared machines drift (a VM's speed moved 10–30 % within an hour here, benches/README.md), so the comparison runs
# in ROUNDS rounds (default 3), each ours and the peer back to back, the side that goes first alternating. Each round
# gives one ratio per workload; a line reports the medians over rounds of both sides' numbers, every round's ratio
# (`ratios=`) and their median (`ratio=`).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
threads="${THREADS:-2}"
profile="${PROFILE:-bench}"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_ours() {
    echo "== ours: cargo bench --profile $profile -p model --bench throughput $*" >&2
    RAYON_NUM_THREADS="$threads" cargo bench --profile "$profile" -p model --bench throughput -- "$@" |
        tee "$work/ours" >&2
}
run_peer() {
    echo "== peer: $python benches/torch_peer.py --device ${PEER_DEVICE:-cpu} --threads $threads" >&2
    "$python" benches/torch_peer.py --device "${PEER_DEVICE:-cpu}" --threads "$threads" | tee "$work/peer" >&2
}

# Reads a Markdown table: prints "config<TAB>value" for the column whose header starts with $2.
column() {
    awk -F'|' -v want="$2" '
        /^\| config/ { for (i = 1; i <= NF; i++) { h = $i; gsub(/^ +| +$/, "", h); if (index(h, want) == 1) col = i } next }
        /^\| ---/ { next }
        /^\|/ && col { c = $2; v = $col; gsub(/ /, "", c); gsub(/ /, "", v); print c "\t" v }' "$1"
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds" >&2
    if ((round % 2)); then run_ours "$@"; run_peer; else run_peer; run_ours "$@"; fi
    for workload in "train tok/s" "gen B"; do
        name="${workload%% *}"
        join -t $'\t' <(column "$work/ours" "$workload" | sort) <(column "$work/peer" "$workload" | sort) |
            awk -F'\t' -v w="$name" '{ printf "%s %s ours=%s peer=%s ratio=%.3f\n", w, $1, $2, $3, $2 / $3 }'
    done | tee -a "$work/ratios" >&2
    for preset in ${STAGE_PRESETS-tiny}; do
        echo "== stage steps, $preset: benches/stages.sh" >&2
        PRESET="$preset" STEPS="${STAGE_STEPS:-6}" STAGES=contrastive,grpo PROFILE="$profile" THREADS="$threads" \
            PYTHON="$python" bash benches/stages.sh | tee "$work/stages" >&2
        grep 'ratio=' "$work/stages" >> "$work/ratios"
    done
done

# One line per workload: "<workload…> ours=<median> peer=<median> rounds=N ratios=r1/r2/… ratio=<median>".
echo
python3 - "$work/ratios" <<'PY'
import statistics, sys
groups = {}
for line in open(sys.argv[1]):
    words = line.split()
    key = " ".join(w for w in words if "=" not in w)
    values = dict(w.split("=", 1) for w in words if "=" in w)
    groups.setdefault(key, []).append(values)
for key, runs in groups.items():
    unit = "s" if runs[0]["ours"].endswith("s") else ""
    med = lambda side: statistics.median(float(r[side].rstrip("s")) for r in runs)
    ratios = [float(r["ratio"]) for r in runs]
    print(f"{key} ours={med('ours'):g}{unit} peer={med('peer'):g}{unit} rounds={len(runs)} "
          f"ratios={'/'.join(f'{r:.2f}' for r in ratios)} ratio={statistics.median(ratios):.2f}")
PY
