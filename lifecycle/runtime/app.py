"""Serve's application builder (`import_path` of the Serve config the plan emits): the
Router in front of one model deployment per version slot, and, when the spec has
monitors, the Monitor the Router feeds. This module only wires; it is the one place
that knows every deployment of the application."""

from __future__ import annotations

from typing import Any

from .contract import MONITOR, ROUTER, AppArgs, model_deployment
from .monitor.deployment import Monitor
from .serve.model import ModelServer
from .serve.router import Router

# serve.deployment turns the classes into Deployments; their type hints do not say so
_model: Any = ModelServer
_monitor: Any = Monitor
_router: Any = Router


def build_app(args: dict[str, Any]) -> Any:
    """fused: the Router alone serves (and the Monitor, with monitors); routed: a model
    deployment per slot behind it."""
    a = AppArgs.model_validate(args)
    batched = a.batching is not None and a.batching.max_batch_size > 1
    models = None if a.topology == "fused" else {
        slot: _model.options(name=model_deployment(slot)).bind(
            slot, a.features, a.batching if batched else None) for slot in a.slots}
    monitor = _monitor.options(name=MONITOR).bind(a.application) if a.monitor else None
    return _router.options(name=ROUTER).bind(a, models, monitor)
