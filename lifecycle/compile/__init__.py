"""The compiler: spec -> plan (one builder per stage kind; Serve config lowering)."""

from .compiler import build_stages, compile_plan, spec_json
from .serve_config import serve_config

__all__ = ["build_stages", "compile_plan", "serve_config", "spec_json"]
