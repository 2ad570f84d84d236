"""Policy bundles: rules as data, read from `conf/policy/*.yaml` (the platform's, never
the user's), with `extends` and per-bundle `settings`."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from ..errors import InputError, Location
from . import cel_runtime as cel

TIER_ORDER = {"low": 0, "medium": 1, "high": 2}
COMPOSE = "+"  # joins layer names: bundle names are identifiers, which never hold it
# Keys a command-line override may change only with an explicit, recorded opt-in
# (settings.protected_keys overrides this default): what a reviewer approves.
PROTECTED_KEYS = ("risk_tier", "policy", "waivers", "approvals")


class Rule(BaseModel):
    """One policy rule. `expression` is CEL that must be true; or `find` is CEL that
    returns a list of offending key paths (one violation each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*-\d{3}$", description="Stable rule id.")
    severity: Literal["error", "warning"] = Field("error", description="error fails validate.")
    when: str | None = Field(None, description="CEL; the rule applies only when true.")
    expression: str | None = Field(None, description="CEL that must be true.")
    find: str | None = Field(None, description="CEL returning a list of offending key paths.")
    path: str = Field("", description="Key path a failed expression points at.")
    message: str = Field(min_length=1, description="What the rule requires, saying what is "
                         "allowed; ${CEL over settings} placeholders are filled in.")
    hint: str | None = Field(None, description="How to satisfy the rule (placeholders too).")
    waivable: bool = Field(True, description="Whether a spec waiver can waive it.")

    @model_validator(mode="after")
    def _one_body(self) -> Rule:
        if (self.expression is None) == (self.find is None):
            raise ValueError("a rule needs exactly one of expression or find")
        return self


class BundleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="Bundle name (the file's stem).")
    tier: Literal["low", "medium", "high"] | None = Field(
        None, description="Risk tier the bundle is for (None: applies to any tier).")
    description: str = Field("", description="What the bundle is for.")
    extends: list[str] = Field(default_factory=list, description="Bundles included first.")
    settings: dict[str, JsonValue] = Field(default_factory=dict,
                                           description="Values rules read as settings.*")
    rules: list[Rule] = Field(default_factory=list, description="The bundle's own rules.")


@dataclass(frozen=True)
class Layer:
    """One bundle file with what it extends: the settings its rules read, and its rules."""

    name: str
    tier: str | None
    settings: dict[str, Any]
    rules: tuple[Rule, ...]
    files: tuple[Path, ...]

    @property
    def protected_keys(self) -> tuple[str, ...]:
        keys = self.settings.get("protected_keys", PROTECTED_KEYS)
        return tuple(str(k) for k in keys) if isinstance(keys, list | tuple) else PROTECTED_KEYS


@dataclass(frozen=True)
class Bundle:
    """What a spec is checked against: its risk tier's bundle, and on top of it the bundle
    the spec names with `policy:` (its name is then 'high+pci'). Each layer is evaluated
    with its own settings and a spec must pass both, so naming a bundle can only add
    rules, whatever that bundle's tier or settings."""

    layers: tuple[Layer, ...]

    @property
    def name(self) -> str:
        return COMPOSE.join(layer.name for layer in self.layers)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule id once (the first layer's definition)."""
        seen: dict[str, Rule] = {}
        for layer in self.layers:
            for rule in layer.rules:
                seen.setdefault(rule.id, rule)
        return tuple(seen.values())

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys(f for layer in self.layers for f in layer.files))

    @property
    def protected_keys(self) -> tuple[str, ...]:
        """Key paths (a key protects everything under it) that command-line overrides
        may not change without --allow-protected-overrides: those of every layer (each
        its own setting, or the default), so naming a bundle can only protect more."""
        return tuple(dict.fromkeys(k for layer in self.layers for k in layer.protected_keys))

    @property
    def digest(self) -> str:
        bodies = [{"settings": layer.settings,
                   "rules": [r.model_dump(mode="json") for r in layer.rules]}
                  for layer in self.layers]
        body = json.dumps(bodies[0] if len(bodies) == 1 else bodies, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _bundle_error(path: Path | None, code: str, message: str, hint: str | None = None,
                  key: str = "") -> InputError:
    loc = Location(file=str(path) if path else None, origin=None if path else "policy")
    return InputError.one(code, message, loc, key, hint)


def available_bundles(dirs: list[Path]) -> list[str]:
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def _read_bundle_file(name: str, dirs: list[Path]) -> tuple[BundleFile, Path]:
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.is_file():
            break
    else:
        import difflib
        options = available_bundles(dirs)
        near = difflib.get_close_matches(name, options, n=1)
        raise _bundle_error(None, "policy.unknown-bundle", f"no policy bundle named '{name}'",
                            (f"did you mean '{near[0]}'? " if near else "")
                            + f"bundles: {', '.join(options)}", "policy")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise _bundle_error(path, "policy.bundle-yaml",
                            f"invalid YAML in policy bundle: {exc}") from None
    if isinstance(data, dict):
        data.setdefault("name", name)
    try:
        return BundleFile.model_validate(data), path
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise _bundle_error(path, "policy.bundle-schema", f"invalid policy bundle: {where}: "
                            f"{err['msg']}", "see docs/policy.md for the rule format") from None


_BUNDLES: dict[tuple[Any, ...], Bundle] = {}


def load_bundle(name: str, dirs: list[Path]) -> Bundle:
    """Load `name` ('high', or 'high+pci': layers evaluated each on its own) and what each
    layer extends; within a layer, later bundles' settings and same-id rules win.
    Memoised on the bundle files' mtimes and sizes (validate runs it for every spec)."""
    stamp: list[Any] = [name]
    for d in dirs:
        if d.is_dir():
            for f in sorted(d.glob("*.yaml")):
                st = f.stat()
                stamp.append((str(f), st.st_mtime_ns, st.st_size))
    key = tuple(stamp)
    cached = _BUNDLES.get(key)
    if cached is None:
        cached = Bundle(tuple(_load_layer(part, dirs)
                              for part in dict.fromkeys(name.split(COMPOSE))))
        _BUNDLES[key] = cached
    return cached


def _load_layer(name: str, dirs: list[Path]) -> Layer:
    settings: dict[str, Any] = {}
    rules: dict[str, Rule] = {}
    files: list[Path] = []
    tier: str | None = None

    def visit(n: str, stack: tuple[str, ...]) -> None:
        nonlocal tier
        if n in stack:
            raise _bundle_error(None, "policy.bundle-cycle", "policy bundles extend each other "
                                "in a cycle: " + " -> ".join(stack + (n,)))
        bf, path = _read_bundle_file(n, dirs)
        for parent in bf.extends:
            visit(parent, stack + (n,))
        settings.update(bf.settings)
        for rule in bf.rules:
            rules.pop(rule.id, None)
            rules[rule.id] = rule
        files.append(path)
        if bf.tier is not None:
            tier = bf.tier

    visit(name, ())
    return Layer(name=name, tier=tier, settings=settings,
                 rules=tuple(_with_settings(r, settings, name) for r in rules.values()),
                 files=tuple(files))


PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _with_settings(rule: Rule, settings: dict[str, Any], bundle: str) -> Rule:
    """The rule with its message and hint filled in from the settings of the bundle it is
    evaluated in, once per load (a placeholder reads only settings, never the spec, so a
    message costs nothing per spec and says the same to every spec)."""
    context = cel.Context(variables={"settings": settings})

    def fill(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            try:
                return _shown(cel.compile(m.group(1)).execute(context))
            except (KeyError, ValueError, RuntimeError, TypeError) as exc:
                detail = f"no setting {exc}" if isinstance(exc, KeyError) else str(exc)
                raise _bundle_error(None, "policy.bundle-schema", f"rule {rule.id} in bundle "
                                    f"'{bundle}': placeholder ${{{m.group(1)}}} cannot be "
                                    f"filled in ({detail.splitlines()[0]})",
                                    "placeholders read only settings, e.g. "
                                    "${settings.max_gpus}") from None
        return PLACEHOLDER.sub(one, text)

    if "${" not in rule.message + (rule.hint or ""):
        return rule
    return rule.model_copy(update={"message": fill(rule.message),
                                   "hint": None if rule.hint is None else fill(rule.hint)})
