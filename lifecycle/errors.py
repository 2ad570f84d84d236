"""One error tree for the whole package.

    LifecycleError                 every error we raise on purpose; has .location and .hint
    ├── InputError                 the user's files or arguments are wrong        (exit 2)
    │   ├── LoadError              YAML, composition, overrides, interpolation
    │   └── SpecError              the composed spec breaks the schema
    ├── PolicyError                a policy rule failed                           (exit 1)
    └── RuntimeFailure             the engine failed while running a plan         (exit 3)

A `Problem` is one finding (error or warning) with a location; an `InputError` or
`PolicyError` carries all problems found, so the user sees them at once. Everything
here is plain data and picklable, so errors cross Ray process boundaries intact.

The bottom layer: imports nothing of lifecycle, and every other package may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

E = TypeVar("E", bound="LifecycleError")


class ExitCode(IntEnum):
    """Stable process exit codes (documented in docs/errors.md; CI depends on them)."""

    OK = 0
    POLICY = 1  # a policy rule failed (or, at run time, a gate failed)
    INVALID_INPUT = 2  # the spec, a preset, an override or an argument is wrong
    RUNTIME = 3  # the engine failed while running a plan
    INTERNAL = 4  # a bug in lifecycle itself: please report it
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    STOPPED = 143  # SIGTERM or SIGHUP: `lifecycle stop`, `ray job stop`, a closed terminal


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file position, or a description such as
    'command-line override'."""

    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    origin: str | None = None  # e.g. "command-line override", "preset conf/train/torch_ddp.yaml"

    def __str__(self) -> str:
        if self.file is None:
            return self.origin or "<unknown>"
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


@dataclass(frozen=True)
class Problem:
    """One finding. `code` is a stable identifier: a load/schema code such as
    `schema.unknown-key`, or a policy rule id such as `HR-002`."""

    code: str
    message: str
    key_path: str = ""
    location: Location = field(default_factory=Location)
    hint: str | None = None
    severity: str = "error"  # error | warning | info

    def format(self) -> str:
        """`FILE:LINE:COL  CODE  key.path  message (hint)` on one line."""
        parts = [str(self.location), self.code]
        if self.key_path:
            parts.append(self.key_path)
        text = "  ".join(parts) + "  " + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class LifecycleError(Exception):
    """Base of every error lifecycle raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, location: Location | None = None,
                 hint: str | None = None, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()
        self.hint = hint
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple[object, ...]:  # keep keyword arguments across pickling
        return (_rebuild, (type(self), self.message, self.location, self.hint, self.problems))

    @classmethod
    def one(cls: type[E], code: str, message: str, location: Location, key_path: str = "",
            hint: str | None = None) -> E:
        """An error carrying a single problem."""
        return cls(message, location=location, hint=hint,
                   problems=(Problem(code, message, key_path, location, hint),))

    def all_problems(self) -> tuple[Problem, ...]:
        if self.problems:
            return self.problems
        return (Problem(code="error", message=self.message, location=self.location,
                        hint=self.hint),)


def _rebuild(cls: type[LifecycleError], message: str, location: Location, hint: str | None,
             problems: tuple[Problem, ...]) -> LifecycleError:
    return cls(message, location=location, hint=hint, problems=problems)


class InputError(LifecycleError):
    """The user's input is wrong; nothing was run."""

    exit_code = ExitCode.INVALID_INPUT


class LoadError(InputError):
    """A YAML file, a preset, an override or an interpolation could not be loaded."""


class SpecError(InputError):
    """The composed spec does not satisfy the schema."""


class PolicyError(LifecycleError):
    """One or more policy rules failed."""

    exit_code = ExitCode.POLICY


class RuntimeFailure(LifecycleError):
    """The engine failed while running a plan."""

    exit_code = ExitCode.RUNTIME
