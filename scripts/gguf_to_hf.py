#!/usr/bin/env python3
"""Convert a GGUF checkpoint to a plain HF model folder with transformers (an alternative to reading the .gguf
directly with `model.path`).

    .venv/bin/pip install -r tests/fixtures/requirements-ci.txt        # torch, transformers, accelerate, gguf
    .venv/bin/python scripts/gguf_to_hf.py MODEL.gguf OUT_DIR [--dtype float32|bfloat16|float16]

transformers dequantises every tensor with gguf-py (the weights are the quantised values, not the original
checkpoint's), undoes llama.cpp's Q/K row permutation and rebuilds the tokenizer from the GGUF metadata. OUT_DIR
gets config.json, generation_config.json, model.safetensors, tokenizer.json and tokenizer_config.json. Supported
architectures are transformers' (llama, mistral, qwen2, qwen3, ...; see transformers.integrations.ggml).
Note: for tokenizer.ggml.pre values transformers does not know (SmolLM2's "smollm" among them) the rebuilt
tokenizer uses the plain GPT-2 byte-level split, which differs from the model's own tokenizer.json on runs of
spaces before digits and on some non-ASCII numerals (see tests/fixtures/gguf/meta.json, smollm2.tokenizer_texts).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    dtype = getattr(torch, args.dtype)
    src = args.gguf.resolve()
    if not src.is_file():
        ap.error(f"{src} is not a file")
    loaded = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)

    # The loaded model carries a GGUF quantization_config and cannot be saved as is: rebuild a plain model from the
    # config without it and copy the (already dequantised) weights over.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    config.__dict__.pop("_model_name_or_path", None)  # general.name, as transformers maps it
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        print(f"error: missing {missing}, unexpected {unexpected}", file=sys.stderr)
        return 1
    model.tie_weights()
    model = model.to(dtype)
    model.config.dtype = args.dtype

    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out))
    tok.save_pretrained(str(args.out))
    n = sum(p.numel() for p in model.parameters())
    print(f"{src.name} -> {args.out} ({config.model_type}, {n / 1e6:.1f}M parameters, {args.dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
