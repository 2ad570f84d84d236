"""The baselines benchmarks/serve_floor.py measures lifecycle's serving against, all on the
same registered model:

- `app`: plain Starlette, run by uvicorn (2 workers): POST rows, score, answer JSON.
  FLOOR_SCORER=pyfunc scores through MLflow's pyfunc (rows -> pandas -> the model), the
  way a user would write it (F1); FLOOR_SCORER=arrow through the entrypoint's scorer on an
  Arrow table, as lifecycle's Scorer does (F2).
- `OneDeployment`: one Ray Serve deployment that is its own ingress and scores through
  the pyfunc (R1): the idiomatic single-hop Ray Serve app.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FEATURES = {"amount": "float", "merchant_risk": "float", "hour": "int",
            "account_age_days": "float", "channel": "category"}


def _pyfunc(uri: str, tracking: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking)
    return mlflow.pyfunc.load_model(uri)


def _score_pyfunc(model: Any, rows: list[dict[str, Any]]) -> list[float]:
    import numpy as np
    import pandas as pd

    return np.asarray(model.predict(pd.DataFrame(rows)), dtype=float).ravel().tolist()  # type: ignore[no-any-return]


class _Floor:
    def __init__(self) -> None:
        self.score: Any = None

    def load(self) -> None:
        uri, tracking = os.environ["FLOOR_MODEL_URI"], os.environ["FLOOR_TRACKING_URI"]
        if os.environ.get("FLOOR_SCORER", "pyfunc") == "arrow":
            from lifecycle.runtime.contract import FeatureCheck, ModelConfig, Slot
            from lifecycle.runtime.serve.scoring import Scorer

            scorer = Scorer(ModelConfig(model_uri=uri, slot=Slot.STABLE,
                                        tracking_uri=tracking),
                            {n: FeatureCheck(type=t) for n, t in FEATURES.items()})  # type: ignore[arg-type]
            self.score = scorer.predict
        else:
            model = _pyfunc(uri, tracking)
            self.score = lambda rows: _score_pyfunc(model, rows)


floor = _Floor()


async def _post(request: Request) -> Response:
    rows = json.loads(await request.body())["rows"]
    return Response(json.dumps({"predictions": floor.score(rows)}),
                    media_type="application/json")


@contextlib.asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    floor.load()
    yield


app = Starlette(routes=[Route("/", _post, methods=["POST"])], lifespan=_lifespan)


def one_deployment() -> Any:
    from ray import serve

    @serve.deployment(name="OneDeployment")
    class OneDeployment:
        def __init__(self, uri: str, tracking: str) -> None:
            self.model = _pyfunc(uri, tracking)

        async def __call__(self, request: Request) -> Response:
            rows = json.loads(await request.body())["rows"]
            return Response(json.dumps({"predictions": _score_pyfunc(self.model, rows)}),
                            media_type="application/json")

    return OneDeployment
