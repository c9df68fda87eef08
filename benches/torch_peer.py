"""PyTorch/transformers peer of `crates/model/benches/throughput.rs`: the same two workloads on the same shapes.

    python benches/torch_peer.py [--device cpu|cuda] [--threads 2]

Training step: forward + backward of the next-token loss on 8 × 128 tokens (f32, eager attention).
Generation: 8 prompts × 8 samples (32-token prompts), 32 new tokens (16 for the 135M shape), temperature 1, KV cache.
Prints a Markdown table with the same columns as the Rust benchmark.
"""
import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM


def configs():
    tiny = Qwen3Config(vocab_size=3000, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                       rope_theta=10000.0, tie_word_embeddings=True, max_position_embeddings=2048)
    smol = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                       num_attention_heads=9, num_key_value_heads=3, head_dim=64, rms_norm_eps=1e-5,
                       rope_theta=100000.0, tie_word_embeddings=True, max_position_embeddings=8192)
    return [("tiny", Qwen3ForCausalLM, tiny), ("smollm2-135m", LlamaForCausalLM, smol)]


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    print(f"torch {torch.__version__} on {dev} ({torch.get_num_threads()} CPU threads)")
    print("| config | params | train tok/s | gen B×G=8×8 tok/s |")
    print("| --- | --- | --- | --- |")
    for name, cls, cfg in configs():
        cfg._attn_implementation = "eager"
        torch.manual_seed(0)
        model = cls(cfg).to(dev).float()
        ids = torch.randint(1, cfg.vocab_size, (8, 128), device=dev)
        iters = 5 if name == "tiny" else 2
        model.train()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        model.zero_grad()
        sync(dev)
        t = time.perf_counter()
        for _ in range(iters):
            out = model(input_ids=ids, labels=ids)
            out.loss.backward()
            model.zero_grad()
        sync(dev)
        train = 8 * 128 * iters / (time.perf_counter() - t)
        model.eval()
        new = 32 if name == "tiny" else 16
        prompts = torch.randint(1, cfg.vocab_size, (8, 32), device=dev).repeat_interleave(8, dim=0)
        with torch.no_grad():
            model.generate(prompts, max_new_tokens=2, do_sample=True, temperature=1.0, top_k=0)
            sync(dev)
            t = time.perf_counter()
            model.generate(prompts, max_new_tokens=new, min_new_tokens=new, do_sample=True, temperature=1.0, top_k=0,
                           pad_token_id=0)
            sync(dev)
        gen = prompts.shape[0] * new / (time.perf_counter() - t)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {name} | {params:.1f} M | {train:.0f} | {gen:.0f} |")


if __name__ == "__main__":
    main()
