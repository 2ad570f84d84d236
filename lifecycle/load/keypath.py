"""Key paths: ('serve', 'rollout', 'steps', 0, 'weight') <-> 'serve.rollout.steps[0].weight'."""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_path(text: str) -> KeyPath:
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(text):
        if index:
            parts.append(int(index))
        else:
            parts.append(int(name) if name.isdigit() else name)  # Hydra writes steps.0.weight
    return tuple(parts)
