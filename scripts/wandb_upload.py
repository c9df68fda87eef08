#!/usr/bin/env python3
"""Upload finished (or running) trainer runs to Weights & Biases, with what `wandb sync --sync-tensorboard` leaves
out: the resolved recipe as the run config, and — for runs of a sweep — the sweep as the W&B group and the variant as
the job type, so runs can be filtered and grouped by variant in the W&B UI.

    pip install wandb tomli  # tomli only on Python < 3.11
    python scripts/wandb_upload.py checkpoints/curriculum --project t1
    python scripts/wandb_upload.py checkpoints/sweeps/curriculum-ablation/runs/* --project t1   # a whole sweep
    python scripts/wandb_upload.py RUN --dry-run    # print what would be sent, import nothing from wandb

A run folder holds `recipe.toml` (the resolved recipe), `metrics.jsonl` (one JSON object per logged step: `step`
plus `train/...`, `eval/<set>/...` values) and, when finished, `summary.json`. Each metrics line is logged at its
global step; the final metrics of `summary.json` go to the W&B summary. A run under `<sweep>/runs/<id>/` takes the
sweep name (`[sweep].name` of `<sweep>/sweep.toml`) as its group and the variant label (the id without its
`__s<seed>` suffix) as its job type; `--group` / `--job-type` override both. Runs are named after their folder.
The W&B run id is derived from the folder path, so uploading again resumes the same W&B run instead of duplicating
it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib


def flatten(value, prefix: str = "") -> dict:
    """`{"stage": [{"optim": {"lr": 1e-3}}]}` -> `{"stage.0.optim.lr": 1e-3}` (W&B filters on flat keys); lists of
    plain values (shard lists) stay lists."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = enumerate(value)
    else:
        return {prefix: value}
    out = {}
    for key, v in items:
        out.update(flatten(v, f"{prefix}.{key}" if prefix else str(key)))
    return out


def describe(run_dir: Path, group: str | None, job_type: str | None) -> dict:
    """Everything the upload sends for one run folder."""
    recipe_path = run_dir / "recipe.toml"
    if not recipe_path.is_file():
        raise SystemExit(f"{run_dir}: no recipe.toml (not a trainer run folder)")
    recipe = tomllib.loads(recipe_path.read_text())
    sweep_dir = run_dir.parent.parent if run_dir.parent.name == "runs" else None
    if sweep_dir is not None and (sweep_dir / "sweep.toml").is_file():
        sweep = tomllib.loads((sweep_dir / "sweep.toml").read_text()).get("sweep", {})
        group = group or sweep.get("name", sweep_dir.name)
        job_type = job_type or re.sub(r"__s\d+$", "", run_dir.name)
    rows = []
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        for n, line in enumerate(metrics_path.read_text().splitlines(), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                print(f"{metrics_path}:{n}: skipped an unreadable line (a run killed mid-write)", file=sys.stderr)
                continue
            values = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
            rows.append((int(row["step"]), values))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return {
        "id": hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16],
        "name": run_dir.name,
        "group": group,
        "job_type": job_type,
        "config": flatten(recipe),
        "rows": rows,
        "summary": (summary or {}).get("metrics", {}),
        "finished": summary is not None,
    }


def upload(run: dict, project: str, entity: str | None) -> None:
    import wandb

    with wandb.init(
        project=project,
        entity=entity,
        id=run["id"],
        resume="allow",
        name=run["name"],
        group=run["group"],
        job_type=run["job_type"],
        config=run["config"],
    ) as w:
        for step, values in run["rows"]:
            w.log(values, step=step)
        for key, value in run["summary"].items():
            w.summary[f"final/{key}"] = value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (checkpoints/<run>)")
    ap.add_argument("--project", default="t1")
    ap.add_argument("--entity")
    ap.add_argument("--group", help="W&B group (default: the sweep's name, for runs of a sweep)")
    ap.add_argument("--job-type", help="W&B job type (default: the sweep variant)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be uploaded")
    args = ap.parse_args()
    for run_dir in args.runs:
        run = describe(run_dir, args.group, args.job_type)
        if args.dry_run:
            shown = {k: v for k, v in run.items() if k != "rows"}
            shown["rows"] = len(run["rows"])
            print(json.dumps(shown, indent=2, default=str))
        else:
            upload(run, args.project, args.entity)
            print(f"{run_dir}: {len(run['rows'])} metric rows uploaded as {run['name']} (group {run['group']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
