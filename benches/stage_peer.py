"""PyTorch/transformers peer of `benches/stages.sh`: one optimizer step of each curriculum stage, on the same data,
token limits, batch shapes, model shape and threads as the trainer's bench run, written as a PyTorch user would.

    python benches/stage_peer.py --preset tiny --steps 8 [--threads 2] [--stages warmup,contrastive,grpo]

Needs torch, transformers and pyarrow (tests/fixtures/requirements-ci.txt). Each stage starts from a fresh model and
AdamW (clip 1.0) and takes --steps steps on batches drawn at random from the stage's shard (the trainer streams them
shuffled: same rows and limits, other batches; medians over several steps absorb the difference):

- warm-up: batch of `prompt(query) + reasoning + <embtoken>`, next-token cross-entropy on reasoning + embedding token;
- contrastive: InfoNCE (τ 0.05, in-batch + hard negatives, false negatives masked) with GradCache (Gao et al. 2021):
  every text embedded without a graph in chunks, the loss's gradient with respect to the embeddings, then each chunk
  re-embedded with the graph and back-propagated;
- GRPO: `model.generate` samples G rollouts per prompt (temperature 1, KV cache); one more decoding step feeds the
  embedding token and reads the rollout embedding; the batch pool (every query's positives and hard negatives) is
  embedded; reward = reciprocal rank of the best positive; group-normalised advantages; TRL's DAPO loss with
  `logits_to_keep` (policy = old policy, β = 0). The peer always samples the full `--new-tokens` (EOS suppressed);
  the trainer's rows stop early only when they sample `<embtoken>` (`train/completion_length_mean` says how often).

Prints `| stage | step s | step range |` (median and range over steps 2..N, as stages.sh).
"""
import argparse
import random
import statistics
import time

import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tokenizers import AddedToken, Tokenizer

from torch_peer import configs

QUERY_INSTRUCTION = "Query: "  # the recipe's default `format.query_instruction`; documents have none


class Data:
    """The embedded dataset, tokenised as the trainer's `ExampleEncoder` does (no template tokens, cut to limits)."""

    def __init__(self, args):
        self.tok = Tokenizer.from_file(args.tokenizer)
        self.tok.add_special_tokens([AddedToken(args.emb_token, special=True)])
        self.emb = self.tok.token_to_id(args.emb_token)
        self.vocab = self.tok.get_vocab_size(with_added_tokens=True)
        self.limits = args
        corpus = pq.read_table(args.corpus).to_pydict()
        titles = corpus.get("title") or [None] * len(corpus["text"])
        self.corpus = {i: (f"{t} {x}" if t else x) for i, t, x in zip(corpus["doc_id"], titles, corpus["text"])}

    def ids(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def prompt(self, query):
        return self.ids(QUERY_INSTRUCTION + query)[: self.limits.query]

    def reasoning(self, text):
        return self.ids(text or "")[: self.limits.reasoning]

    def document(self, doc_id):
        return self.ids(self.corpus[doc_id])[: self.limits.document - 1] + [self.emb]

    def rows(self, shard):
        table = pq.read_table(shard).to_pydict()
        return [dict(zip(table, values)) for values in zip(*table.values())]


def padded(rows, left=False, pad=0):
    """Token rows → (ids, attention mask), padded to the longest row."""
    width = max(map(len, rows))
    ids = [([pad] * (width - len(r)) + r) if left else (r + [pad] * (width - len(r))) for r in rows]
    mask = [([0] * (width - len(r)) + [1] * len(r)) if left else ([1] * len(r) + [0] * (width - len(r))) for r in rows]
    return torch.tensor(ids), torch.tensor(mask)


def embed(model, rows, chunk):
    """L2-normalised last-layer states at each row's last token (`<embtoken>`), `chunk` rows per forward pass."""
    out = []
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        ids, mask = padded(part)
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        out.append(hidden[torch.arange(len(part)), mask.sum(1) - 1])
    return F.normalize(torch.cat(out), dim=-1)


def optimizer_step(model, opt):
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


def warmup_step(model, opt, data, batch, args):
    rows, labels = [], []
    for ex in batch:
        prompt, target = data.prompt(ex["query"]), data.reasoning(ex["reasoning"]) + [data.emb]
        rows.append(prompt + target)
        labels.append([-100] * len(prompt) + target)
    ids, mask = padded(rows)
    labels, _ = padded(labels, pad=-100)
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    optimizer_step(model, opt)


def contrastive_step(model, opt, data, batch, args):
    queries = [data.prompt(ex["query"]) + data.reasoning(ex["reasoning"]) + [data.emb] for ex in batch]
    doc_ids, positive = [], []
    for ex in batch:
        positive.append(len(doc_ids))
        doc_ids += [random.choice(ex["positive_ids"])] + ex["negative_ids"][: args.hard_negatives]
    docs = [data.document(d) for d in doc_ids]
    false_negative = torch.tensor([[d in ex["positive_ids"] and j != p for j, d in enumerate(doc_ids)]
                                   for ex, p in zip(batch, positive)])
    with torch.no_grad():
        q, d = embed(model, queries, args.gradcache_chunk), embed(model, docs, args.gradcache_chunk)
    q.requires_grad_(), d.requires_grad_()
    logits = (q @ d.T / args.temperature).masked_fill(false_negative, -1e9)
    F.cross_entropy(logits, torch.tensor(positive)).backward()
    for rows, cached in ((queries, q.grad), (docs, d.grad)):
        for i in range(0, len(rows), args.gradcache_chunk):
            part = embed(model, rows[i : i + args.gradcache_chunk], args.gradcache_chunk)
            (part * cached[i : i + len(part)]).sum().backward()
    optimizer_step(model, opt)


def grpo_step(model, opt, data, batch, args):
    g, new = args.group_size, args.new_tokens
    prompts = [data.prompt(ex["query"]) for ex in batch]
    prompt_ids, prompt_mask = padded(prompts, left=True)
    with torch.no_grad():
        out = model.generate(prompt_ids, attention_mask=prompt_mask, do_sample=True, temperature=1.0, top_k=0,
                             top_p=1.0, max_new_tokens=new, min_new_tokens=new, num_return_sequences=g,
                             pad_token_id=0, return_dict_in_generate=True)
        completions = out.sequences[:, prompt_ids.shape[1] :]
        mask = torch.cat([prompt_mask.repeat_interleave(g, 0), torch.ones_like(completions)], 1)
        # generate's cache lacks the last sampled token: feed it and the embedding token (positions n − 1, n).
        emb_col = torch.full((len(completions), 1), data.emb)
        n = mask.sum(1, keepdim=True)
        last = model.model(input_ids=torch.cat([completions[:, -1:], emb_col], 1), cache=out.past_key_values,
                           attention_mask=torch.cat([mask, torch.ones_like(emb_col)], 1),
                           position_ids=torch.cat([n - 1, n], 1))
        rollouts = F.normalize(last.last_hidden_state[:, -1], dim=-1)
        pool = [d for ex in batch for d in ex["positive_ids"] + ex["negative_ids"][: args.hard_negatives]]
        pool = list(dict.fromkeys(pool))
        scores = rollouts @ embed(model, [data.document(d) for d in pool], 32).T
        rewards = []
        for row, score in enumerate(scores):
            relevant = torch.tensor([d in batch[row // g]["positive_ids"] for d in pool])
            rank = (score > score[relevant].max()).sum() + 1 if relevant.any() else float("inf")
            rewards.append(1.0 / float(rank))
        rewards = torch.tensor(rewards).view(-1, g)
        advantages = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).view(-1, 1)
    ids = torch.cat([prompt_ids.repeat_interleave(g, 0), completions, emb_col], 1)
    logits = model(input_ids=ids, attention_mask=torch.cat([mask, torch.ones_like(emb_col)], 1),
                   logits_to_keep=new + 1).logits[:, :-1]
    logp = torch.gather(logits.log_softmax(-1), 2, completions.unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(logp - logp.detach())
    per_token = -torch.min(ratio * advantages, ratio.clamp(1 - 0.2, 1 + 0.28) * advantages)
    per_token.mean().backward()  # DAPO: over every completion token of the batch (all are in the loss here)
    optimizer_step(model, opt)


STAGES = {"warmup": warmup_step, "contrastive": contrastive_step, "grpo": grpo_step}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=["tiny", "smollm2-135m"])
    ap.add_argument("--stages", default="warmup,contrastive,grpo")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tokenizer", default="data/tokenizer.json")
    ap.add_argument("--emb-token", default="<embtoken>")
    ap.add_argument("--corpus", default="data/corpus.parquet")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--batch-size", type=int, default=8, help="queries per step (warm-up and contrastive)")
    ap.add_argument("--grpo-batch-size", type=int, default=4)
    ap.add_argument("--query", type=int, default=48)
    ap.add_argument("--reasoning", type=int, default=32)
    ap.add_argument("--document", type=int, default=128)
    ap.add_argument("--hard-negatives", type=int, default=2, help="contrastive stage")
    ap.add_argument("--grpo-hard-negatives", type=int, default=3)
    ap.add_argument("--gradcache-chunk", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = Data(args)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {args.preset} (vocab {data.vocab}), "
          f"{args.steps} steps per stage; medians over steps 2..{args.steps}")
    print("| stage | step s | step range |")
    print("| --- | --- | --- |")
    for kind in args.stages.split(","):
        name, cls, config = next(c for c in configs(data.vocab) if c[0] == args.preset)
        config._attn_implementation = "eager"
        torch.manual_seed(0)
        random.seed(0)
        model = cls(config).float().train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        rows = data.rows(f"{args.data_dir}/train_{kind}.parquet")
        step_args = argparse.Namespace(**vars(args))
        if kind == "grpo":
            step_args.hard_negatives = args.grpo_hard_negatives
        size = args.grpo_batch_size if kind == "grpo" else args.batch_size
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            STAGES[kind](model, opt, data, random.sample(rows, size), step_args)
            times.append(time.perf_counter() - start)
        timed = times[1:] or times
        print(f"| {kind} | {statistics.median(timed):.3f} | {min(timed):.3f}–{max(timed):.3f} |")


if __name__ == "__main__":
    main()
