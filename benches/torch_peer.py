"""PyTorch/transformers peer of `crates/model/benches/throughput.rs`: the same two workloads on the same shapes.

    python benches/torch_peer.py [--device cpu|cuda] [--threads 2]

Training step: forward + backward of the next-token loss on 8 × 128 tokens (f32, eager attention).
Generation: 8 prompts × 8 samples (32-token prompts), 32 new tokens (16 for the 135M shape), temperature 1, KV cache.
Each workload: one warm-up, then --iters timed iterations (default 5); the median and the range are printed in a
Markdown table with the same columns as the Rust benchmark.
"""
import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM


def configs(vocab=None):
    """(name, model class, config) of the two benchmark shapes; `vocab` replaces their vocabularies (3000, 49152)."""
    tiny = Qwen3Config(vocab_size=vocab or 3000, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                       rope_theta=10000.0, tie_word_embeddings=True, max_position_embeddings=2048)
    smol = LlamaConfig(vocab_size=vocab or 49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                       num_attention_heads=9, num_key_value_heads=3, head_dim=64, rms_norm_eps=1e-5,
                       rope_theta=100000.0, tie_word_embeddings=True, max_position_embeddings=8192)
    return [("tiny", Qwen3ForCausalLM, tiny), ("smollm2-135m", LlamaForCausalLM, smol)]


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def rates(work, tokens, iters, device, warmup=None):
    """(median, min, max) tokens/s of `iters` timed calls of `work`, after one warm-up call."""
    (warmup or work)()
    sync(device)
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        work()
        sync(device)
        out.append(tokens / (time.perf_counter() - t))
    out.sort()
    n = len(out)
    median = out[n // 2] if n % 2 else (out[n // 2 - 1] + out[n // 2]) / 2
    return median, out[0], out[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per workload (each after a warm-up)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    print(f"torch {torch.__version__} on {dev} ({torch.get_num_threads()} CPU threads)")
    print(f"{args.iters} timed iterations per workload; tok/s = median (range min–max)")
    print("| config | params | train tok/s | train range | gen B×G=8×8 tok/s | gen range |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, cls, cfg in configs():
        cfg._attn_implementation = "eager"
        torch.manual_seed(0)
        model = cls(cfg).to(dev).float()
        ids = torch.randint(1, cfg.vocab_size, (8, 128), device=dev)
        model.train()

        def step():
            out = model(input_ids=ids, labels=ids)
            out.loss.backward()
            model.zero_grad()

        train = rates(step, 8 * 128, args.iters, dev)
        model.eval()
        new = 32 if name == "tiny" else 16
        prompts = torch.randint(1, cfg.vocab_size, (8, 32), device=dev).repeat_interleave(8, dim=0)

        def generate(n=new):
            with torch.no_grad():
                model.generate(prompts, max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0, top_k=0,
                               pad_token_id=0)

        gen = rates(generate, prompts.shape[0] * new, args.iters, dev, warmup=lambda: generate(2))
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {name} | {params:.1f} M | {train[0]:.0f} | {train[1]:.0f}–{train[2]:.0f} "
              f"| {gen[0]:.0f} | {gen[1]:.0f}–{gen[2]:.0f} |")

if __name__ == "__main__":
    main()
