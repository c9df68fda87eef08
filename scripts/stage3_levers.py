#!/usr/bin/env python3
"""Does stage 3 (GRPO) improve retrieval over the stage-2 model it starts from, and which lever moves it?

Stage 3 is measured against the *same* stage-2 model, seed by seed (paired): for each seed the curriculum's first
two stages run once (`curriculum.toml` without its GRPO stage), then every variant of stage 3 starts from that
seed's stage-2 export (`stage3_grpo.toml` with `model.path` set). `trainer sweep` would rerun stages 1-2 for every
variant (~7 of a run's 9 minutes here), so this script shares them; it calls the same binary with the same recipes.

    cargo build -p trainer
    python3 scripts/stage3_levers.py                       # 6 seeds x the variants below, 2 runs at a time
    python3 scripts/stage3_levers.py --report              # the table again from the finished runs
    python3 scripts/stage3_levers.py --seeds 6,7,8,9 --variants shipped,ndcg_corpus_ds   # fresh confirmation seeds

Runs go to checkpoints/stage3-levers/{base,<variant>}_s<seed>/; the table to results.md and results.csv there.
Every run evaluates dev and test with generated (greedy) reasoning; variants are chosen on dev, test is reported.
The README's table (sweeps/results/stage3-levers/) is seeds 0-5 for every variant, then 6-9 for the chosen one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVALS = ('eval=[{name="dev",mode="generate"},{name="test",queries=["data/test_queries.parquet"],'
         'qrels=["data/test_qrels.parquet"],mode="generate"}]')
G = "stage.grpo.grpo."

# name -> --set overrides of stage3_grpo.toml (the shipped stage 3 is "shipped").
VARIANTS: dict[str, list[str]] = {
    # The control: stage 3 with a learning rate that changes no weight. Its greedy-rollout reward at each step is
    # the stage-2 model's on the same (not yet trained on) queries, so the other variants' per-step greedy reward
    # minus this is a paired, held-out measure of what GRPO taught the policy as the evaluator decodes it.
    "frozen": ["stage.grpo.optim.lr=1e-30"],
    "frozen_ndcg_corpus": ["stage.grpo.optim.lr=1e-30", f"{G}sampling.temperature=0.7", f'{G}reward="ndcg"',
                           f'{G}pool="corpus"', f"{G}corpus_refresh_every=5"],
    "shipped": [],
    "t07": [f"{G}sampling.temperature=0.7"],
    "t07_nofmt": [f"{G}sampling.temperature=0.7", f"{G}format_weight=0.0"],
    "t07_g8": [f"{G}sampling.temperature=0.7", f"{G}group_size=8"],
    "t07_long": [f"{G}sampling.temperature=0.7", "stage.grpo.steps=120", "stage.grpo.optim.lr=5e-4"],
    "rr_corpus": [f"{G}sampling.temperature=0.7", f'{G}pool="corpus"', f"{G}corpus_refresh_every=5"],
    "t07_anchor": [f"{G}sampling.temperature=0.7", f"{G}contrastive_weight=0.5"],
    "t03_ds": [f"{G}sampling.temperature=0.3", f"{G}dynamic_sampling=true"],
    "t05_ds": [f"{G}sampling.temperature=0.5", f"{G}dynamic_sampling=true"],
    "t07_kl": [f"{G}sampling.temperature=0.7", f"{G}beta=0.04"],
    "ndcg_corpus": [f"{G}sampling.temperature=0.7", f'{G}reward="ndcg"', f'{G}pool="corpus"', f"{G}corpus_refresh_every=5"],
    "ndcg_corpus_ds": [f"{G}sampling.temperature=0.7", f'{G}reward="ndcg"', f'{G}pool="corpus"',
                       f"{G}corpus_refresh_every=5", f"{G}dynamic_sampling=true"],
}
# Training-time diagnostics averaged over a run's last 10 GRPO steps.
DIAGNOSTICS = ["reward_retrieval", "reward_greedy", "reward_gold", "reward_chance", "completion_length_mean"]


def run(trainer: str, out: Path, args: list[str]) -> None:
    """One trainer run into `out` (skipped when it already finished)."""
    if (out / "summary.json").exists():
        return
    cmd = [trainer, "--output", str(out), "--overwrite", *args]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        code = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                               env={**os.environ, "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS", "1")})
    print(f"{out.name}: exit {code} ({log})", flush=True)


def base_args(seed: int) -> list[str]:
    return ["--recipe", "curriculum.toml", "--set", "stage.grpo.enabled=false", "--set", EVALS,
            "--set", f"run.seed={seed}", "--set", f"model.init_seed={seed}"]


def stage3_args(seed: int, base: Path, sets: list[str]) -> list[str]:
    args = ["--recipe", "stage3_grpo.toml", "--set", f'model.path="{base / "contrastive" / "final"}"',
            "--set", EVALS, "--set", "run.checkpoint_every=0", "--set", f"run.seed={seed}"]
    for s in sets:
        args += ["--set", s]
    return args


def last(metrics: Path, key: str) -> float | None:
    value = None
    for line in metrics.read_text().splitlines():
        value = json.loads(line).get(key, value)
    return value


def series(metrics: Path, key: str) -> dict[int, float]:
    """`train/<key>` by stage step."""
    out = {}
    for line in metrics.read_text().splitlines():
        v = json.loads(line)
        if f"train/{key}" in v:
            out[v["stage_step"]] = v[f"train/{key}"]
    return out


def tail_mean(metrics: Path, key: str, n: int = 10) -> float | None:
    values = [v for _, v in sorted(series(metrics, key).items())]
    return statistics.mean(values[-n:]) if values else None


def greedy_gain(run: Path, frozen: Path) -> float | None:
    """Mean over the steps both runs share of (greedy-rollout reward − the frozen control's), same query batches."""
    if not (frozen / "summary.json").exists():
        return None
    a, b = series(run / "metrics.jsonl", "reward_greedy"), series(frozen / "metrics.jsonl", "reward_greedy")
    steps = sorted(set(a) & set(b))
    return statistics.mean(a[t] - b[t] for t in steps) if steps else None


def report(out: Path, seeds: list[int]) -> str:
    """The paired table: stage 3 minus the same seed's stage 2, mean ± std over seeds (and the relative change)."""
    base = {}
    for s in seeds:
        m = out / f"base_s{s}" / "metrics.jsonl"
        if (out / f"base_s{s}" / "summary.json").exists():
            base[s] = (last(m, "eval/dev/ndcg@10"), last(m, "eval/test/ndcg@10"))
    def fmt(xs: list[float], sign: str = "") -> str:
        return f"{statistics.mean(xs):{sign}.4f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.4f}"

    lines = [f"Stage-2 models ({len(base)} seeds): dev {fmt([b[0] for b in base.values()])}, "
             f"test {fmt([b[1] for b in base.values()])}.", "",
             "| variant | n | Δ dev (paired) | Δ dev rel. | Δ test (paired) | Δ test rel. | dev after | test after | "
             "Δ greedy reward vs frozen | " + " | ".join(DIAGNOSTICS) + " |",
             "| --- " * (9 + len(DIAGNOSTICS)) + "|"]
    rows = []
    for name in VARIANTS:
        runs = [(s, out / f"{name}_s{s}") for s in base if (out / f"{name}_s{s}" / "summary.json").exists()]
        if not runs:
            continue
        dev = [last(r / "metrics.jsonl", "eval/dev/ndcg@10") for _, r in runs]
        test = [last(r / "metrics.jsonl", "eval/test/ndcg@10") for _, r in runs]
        d_dev = [d - base[s][0] for d, (s, _) in zip(dev, runs)]
        d_test = [t - base[s][1] for t, (s, _) in zip(test, runs)]
        b_dev = statistics.mean(base[s][0] for s, _ in runs)
        b_test = statistics.mean(base[s][1] for s, _ in runs)
        # The control with the variant's own pool and reward (greedy rewards on other pools do not compare).
        reward = {k for k in VARIANTS[name] if k.startswith((f"{G}reward=", f"{G}pool="))}
        control = {frozenset(): "frozen", frozenset({f'{G}reward="ndcg"', f'{G}pool="corpus"'}): "frozen_ndcg_corpus"}
        control = control.get(frozenset(reward))
        gains = [g for g in (greedy_gain(r, out / f"{control}_s{s}") for s, r in runs if control) if g is not None]
        gain = fmt(gains, "+") if gains and not name.startswith("frozen") else ""
        diag = [statistics.mean(v for v in (tail_mean(r / "metrics.jsonl", k) for _, r in runs) if v is not None)
                for k in DIAGNOSTICS]
        lines.append(f"| {name} | {len(runs)} | {fmt(d_dev, '+')} | {statistics.mean(d_dev) / b_dev:+.0%} | {fmt(d_test, '+')} | "
                     f"{statistics.mean(d_test) / b_test:+.0%} | {fmt(dev)} | {fmt(test)} | {gain} | "
                     + " | ".join(f"{x:.3f}" for x in diag) + " |")
        rows.append({"variant": name, "seeds": " ".join(str(s) for s, _ in runs),
                     "delta_dev": " ".join(f"{x:+.4f}" for x in d_dev),
                     "delta_test": " ".join(f"{x:+.4f}" for x in d_test)})
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["variant", "seeds", "delta_dev", "delta_test"])
        w.writeheader()
        w.writerows(rows)
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4,5")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names (default: all)")
    p.add_argument("--parallel", type=int, default=2, help="runs at a time (each on RAYON_NUM_THREADS=1)")
    p.add_argument("--trainer", default=str(ROOT / "target" / "debug" / "trainer"),
                   help="the trainer binary (default target/debug/trainer; set CARGO_TARGET_DIR's instead)")
    p.add_argument("--out", default=str(ROOT / "checkpoints" / "stage3-levers"))
    p.add_argument("--report", action="store_true", help="only rebuild the table")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    out = Path(a.out)
    names = a.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    if not a.report:
        if not Path(a.trainer).is_file():
            sys.exit(f"no trainer binary at {a.trainer}: run `cargo build -p trainer` or pass --trainer")
        with ThreadPoolExecutor(a.parallel) as pool:
            list(pool.map(lambda s: run(a.trainer, out / f"base_s{s}", base_args(s)), seeds))
            jobs = [(s, n) for s in seeds for n in names]
            list(pool.map(lambda j: run(a.trainer, out / f"{j[1]}_s{j[0]}",
                                        stage3_args(j[0], out / f"base_s{j[0]}", VARIANTS[j[1]])), jobs))
    print(report(out, seeds))


if __name__ == "__main__":
    main()
