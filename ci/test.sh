#!/usr/bin/env bash
# The project's test command (README: "Run the tests"). `.ci/run` calls exactly this.
# Builds and tests the default CPU backend (flex), lints everything with the wgpu backend compiled in (which also
# type-checks it), and type-checks the cuda backend (DOCS_RS=1 skips burn-cuda's LLVM download, which cannot
# succeed offline).
set -euo pipefail
cd "$(dirname "$0")/.."

# The build goes to ./target (shared with `cargo run -p trainer`) unless CARGO_TARGET_DIR says otherwise; `.ci/run`
# points it at a cache outside the clone so a warm CI run takes minutes, not half an hour.
export CARGO_TERM_COLOR=never

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "real assets (SmolLM2 GGUF, Python reference stack)"
. ci/assets.sh

step "Open MPI (data-parallel tests)"
. ci/mpi.sh

step "format"
cargo fmt --all -- --check

step "tests (flex CPU backend)"
log="$(mktemp)"
cargo test --workspace --locked 2>&1 | tee "$log"
totals="$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")"

step "data parallelism over MPI (trainer --features mpi, mpirun -np 2)"
if [ "${T1_MPI:-0}" = 1 ]; then
    cargo test -p trainer --locked --features mpi --test dp 2>&1 | tee "$log"
    totals="$(awk -v t="$totals" '/^test result:/ { p += $4; f += $6 } END { split(t, a, " "); printf "%d passed, %d failed", a[1] + p, a[3] + f }' "$log")"
    lint_features=trainer/wgpu,trainer/mpi
else
    echo "SKIPPED: no Open MPI here (see ci/mpi.sh)"
    lint_features=trainer/wgpu
fi
rm -f "$log"

step "clippy, with the wgpu backend (and MPI, when present) compiled in"
cargo clippy --workspace --all-targets --locked --features "$lint_features" -- -D warnings

step "type-check the cuda backend"
DOCS_RS=1 cargo check -p trainer --locked --features cuda

step "done"
echo "tests: $totals"
