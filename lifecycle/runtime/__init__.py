"""Code that runs inside Ray: Train workers and Tune trials (`entrypoint`, the MLflow
wrapper `pyfunc`), the Serve application (`app` wires `serve`'s Router and model servers
and `monitor`'s Monitor), the rollout controller (`rollout`), and Ray Jobs of a stored
plan (`jobs`: `run --address` and a monitor's retrain).

`contract` is the typed seam: every config, request, statistic and status that crosses
between the driver (`lifecycle.execute`) and this package is one of its pydantic models,
and the deployment, slot and namespace names are defined there once.

May import: `lifecycle.plan` (the runtime reads plans), `lifecycle.store` (the journal),
`lifecycle.errors`, Ray, MLflow, alibi-detect. Never the driver (`execute`) or the
compiler (`spec`, `load`, `compile`, `policy`, `diff`): a retrain is a new Ray Job of
the stored plan, the path `run --address` takes. Inside, `app` wires; `rollout` and
`monitor` never import each other (a monitor reaches the controller by its actor name);
both may use `serve`'s control handles and `jobs`. CI checks all of it (import-linter
contracts in pyproject.toml)."""
