"""The compiler: spec -> plan (one builder per stage kind; Serve config lowering)."""

from .compiler import build_stages, compile_plan, spec_json
from .cost import price
from .serve_config import APP_IMPORT_PATH, serve_config
from .slo import slo_params  # also registers the compiler's check on latency thresholds

__all__ = ["APP_IMPORT_PATH", "build_stages", "compile_plan", "price", "serve_config",
           "slo_params", "spec_json"]
