"""The idiomatic two-hop Ray Serve composition benchmarks/serve_router.py compares with:
an ingress that parses JSON and calls one model deployment (lifecycle's ModelServer, so
the model work is identical) through a handle. No split, no checks, no shadow."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse

from lifecycle.runtime.serve.model import ModelServer


@serve.deployment(name="Ingress")
class Ingress:
    def __init__(self, model: DeploymentHandle) -> None:
        self.model = model

    async def __call__(self, request: Request) -> JSONResponse:
        body: Any = await request.json()
        out = await self.model.predict.remote(body["rows"])
        return JSONResponse(out)


app = Ingress.bind(ModelServer.options(name="Model").bind("stable"))
