"""A training entrypoint that only records where Ray Train placed it: each worker writes
its rank, `ray.get_gpu_ids()` and CUDA_VISIBLE_DEVICES to `config["probe_dir"]`. Used to
check GPU placement on clusters with logical GPUs (no CUDA needed)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def train_loop(config: dict[str, Any]) -> None:
    import ray
    import ray.train

    context = ray.train.get_context()
    rank = context.get_world_rank()
    record = {"rank": rank, "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    out = Path(config["probe_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank-{rank}.json").write_text(json.dumps(record))
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "probe.json").write_text(json.dumps(record))
        checkpoint = ray.train.Checkpoint.from_directory(d) if rank == 0 else None
        ray.train.report({"rank": rank}, checkpoint=checkpoint)
