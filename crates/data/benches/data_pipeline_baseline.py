#!/usr/bin/env python3
"""Python baseline for crates/data/benches/pipeline.rs: the same shard and tokenizer,
Parquet -> tokenized (truncated to 256) -> token-budget batches -> padded numpy arrays.

Usage (after `DATA_BENCH_DIR=/tmp/bench cargo bench -p data --bench pipeline`):

    pip install pyarrow tokenizers numpy
    python crates/data/benches/data_pipeline_baseline.py /tmp/bench/shard.parquet /tmp/bench/tokenizer.json

Thread counts: RAYON_NUM_THREADS=1 and =2 bound the tokenizers library's batch encoder,
comparable to the Rust pipeline's 1 and 2 workers. Rows are read one row group at a time
(no shuffle: the Rust side's shuffle is a permutation of indices and costs little).
"""

import os
import resource
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

MAX_LEN = 256
TOKEN_BUDGET = 32 * MAX_LEN
PAD_ID = 0


def batches(seqs):
    """Consecutive groups with len(batch) * longest <= TOKEN_BUDGET (never reordering)."""
    batch, longest = [], 0
    for s in seqs:
        n = max(len(s), 1)
        if n > TOKEN_BUDGET:
            raise ValueError(f"item of {n} tokens exceeds the budget")
        longer = max(longest, n)
        if batch and (len(batch) + 1) * longer > TOKEN_BUDGET:
            yield batch
            batch, longest = [], 0
            longer = n
        batch.append(s)
        longest = longer
    if batch:
        yield batch


def pad(batch):
    seq_len = max(len(s) for s in batch)
    ids = np.full((len(batch), seq_len), PAD_ID, dtype=np.uint32)
    mask = np.zeros((len(batch), seq_len), dtype=bool)
    for i, s in enumerate(batch):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = True
    return ids, mask


def main():
    shard, tokenizer_path = sys.argv[1], sys.argv[2]
    tok = Tokenizer.from_file(tokenizer_path)
    pf = pq.ParquetFile(shard)
    start = time.perf_counter()
    rows = tokens = 0
    for rg in range(pf.num_row_groups):
        table = pf.read_row_group(rg, columns=["query", "reasoning"])
        texts = [
            f"{q}\n{r}"
            for q, r in zip(table.column("query").to_pylist(), table.column("reasoning").to_pylist())
        ]
        seqs = [e.ids[:MAX_LEN] for e in tok.encode_batch(texts, add_special_tokens=False)]
        for batch in batches(seqs):
            ids, mask = pad(batch)
            rows += ids.shape[0]
            tokens += int(mask.sum())
    secs = time.perf_counter() - start
    threads = os.environ.get("RAYON_NUM_THREADS", "all")
    print(
        f"python baseline, {threads} thread(s): {rows} rows, {tokens} tokens in {secs:.2f}s = "
        f"{rows / secs:.0f} rows/s, {tokens / secs:.0f} tokens/s; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
    )


if __name__ == "__main__":
    main()
