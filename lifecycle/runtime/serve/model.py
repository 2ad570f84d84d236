"""One model version behind the Router, in the routed topology: loaded from the MLflow
registry by the version the deploy stage pinned (an alias can move; the version this
replica serves cannot), scored on an Arrow table (`scoring`)."""

from __future__ import annotations

import asyncio
from typing import Any

from ray import serve

from ..contract import BatchingConfig, FeatureCheck, ModelConfig, Slot


@serve.deployment(name="Model")
class ModelServer:
    def __init__(self, slot: Slot, features: dict[str, FeatureCheck],
                 batching: BatchingConfig | None = None) -> None:
        self.slot = slot
        self.features = features
        self.scorer: Any = None
        self.batches = 0
        self.largest_batch = 0
        if batching is not None:  # serve.batching: requests gathered into one model call
            # serve.batch adds these setters; its type hints do not say so
            self.predict_batched.set_max_batch_size(  # type: ignore[attr-defined]
                batching.max_batch_size)
            self.predict_batched.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
                batching.batch_wait_timeout)

    def reconfigure(self, config: dict[str, Any]) -> None:
        from .scoring import Scorer

        c = ModelConfig.model_validate(config)
        if self.scorer is None or self.scorer.uri != c.model_uri:
            self.scorer = Scorer(c, self.features)
        self.scorer.version = c.version or "?"

    def predict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"predictions": self.scorer.predict(rows), "version": self.scorer.version}

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)
    async def predict_batched(self, requests: list[list[dict[str, Any]]]
                              ) -> list[dict[str, Any]]:
        """`serve.batching`: the rows of up to max_batch_size concurrent requests scored in
        one call (in a thread, so requests keep arriving), then split back per request."""
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(requests))
        flat = [row for rows in requests for row in rows]
        out = await asyncio.to_thread(self.predict, flat)
        result, start = [], 0
        for rows in requests:
            result.append({"predictions": out["predictions"][start:start + len(rows)],
                           "version": out["version"]})
            start += len(rows)
        return result

    def batching_stats(self) -> dict[str, int]:
        return {"batches": self.batches, "largest_batch": self.largest_batch}
