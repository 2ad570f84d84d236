"""Monitors: alibi-detect detectors fit on the training reference, fed by the Router in
windows off the response path (a `Monitor` deployment in the spec's Serve application),
and the actions their findings drive.

- `encode`: rows and tables -> the float32 matrix a detector reads (pure).
- `windows`: window closing by size or time, and sampling when the detector lags (pure).
- `limits`: the retrain cooldown and weekly cap (pure).
- `detectors`: build, fit, save, verify and load detectors; one result shape for all.
- `actions`: alert delivery (webhook, command) with retries.
- `deployment`: the Serve deployment that keeps the windows and runs the detectors.
"""
