"""Reading YAML safely and with positions.

Hydra and OmegaConf keep no line numbers, and will happily expand a YAML bomb. Every
file that takes part in a composition is first read here: size, depth and alias
expansion are bounded, duplicate keys are errors, and the result is an index from
each key path to the line and column where it is written.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import LoadError, Location
from .keypath import KeyPath, format_path

MAX_BYTES = int(os.environ.get("LIFECYCLE_MAX_YAML_BYTES", 1_000_000))
MAX_DEPTH = 64
MAX_NODES = 200_000  # after alias expansion


@dataclass(frozen=True)
class Position:
    line: int
    column: int
    kind: str  # "mapping" | "sequence" | "scalar"


@dataclass(frozen=True)
class YamlFile:
    path: Path
    positions: dict[KeyPath, Position]
    top_keys: tuple[str, ...]
    # values YAML read as booleans, with the word written (`NO`, `yes`, `off`, `true`):
    # the validate pipeline refuses one that the schema turned into a number or text
    booleans: dict[KeyPath, str] = field(default_factory=dict)


BOOL_TAG = "tag:yaml.org,2002:bool"


def _problem(path: Path, code: str, message: str, hint: str | None = None,
             line: int | None = None, column: int | None = None, key: str = "") -> LoadError:
    return LoadError.one(code, message, Location(display_path(path), line, column), key, hint)


def display_path(path: Path | str) -> str:
    """Paths under the working directory are shown relative to it."""
    return _display(str(path), os.getcwd())


@functools.lru_cache(maxsize=4096)
def _display(path: str, cwd: str) -> str:
    p = Path(path)
    try:
        return os.path.relpath(p) if p.is_absolute() and not os.path.relpath(p).startswith("..") \
            else str(p)
    except ValueError:
        return str(p)


# libyaml's parser when present (8x faster than the pure-Python one); marks are the same.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "sequence"
    return "scalar"


def read_yaml(path: Path) -> YamlFile:
    """Parse `path` into a position index, or raise LoadError naming file:line."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _problem(path, "load.missing-file", f"file not found: {display_path(path)}",
                       "check the path; spec paths are relative to the working directory") from None
    except OSError as exc:
        raise _problem(path, "load.unreadable", f"cannot read {display_path(path)}: "
                       f"{exc.strerror}") from None
    if path.is_dir():
        raise _problem(path, "load.not-a-file", f"{display_path(path)} is a folder",
                       "give the spec's .yaml file")
    if size > MAX_BYTES:
        raise _problem(path, "yaml.too-large", f"file is {size:,} bytes; specs are limited to "
                       f"{MAX_BYTES:,}", "split it into presets under conf/, or raise "
                       "LIFECYCLE_MAX_YAML_BYTES")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _problem(path, "yaml.encoding", f"file is not UTF-8 text (byte {exc.start})",
                       "save the file as UTF-8") from None
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise _problem(path, "yaml.syntax", f"invalid YAML: character {exc.character!r} is not "
                       "allowed", "remove control characters from the file", line=line) from None
    try:
        root = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise _problem(path, "yaml.syntax", f"invalid YAML: character {exc.character!r} is not "
                       "allowed", "remove control characters from the file", line=line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = (exc.problem or exc.context or "invalid YAML").strip()
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise _problem(path, "yaml.syntax", f"invalid YAML: {message}",
                       "check indentation, colons and quoting on this line",
                       line=mark.line + 1 if mark else None,
                       column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise _problem(path, "yaml.syntax", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    positions: dict[KeyPath, Position] = {}
    if root is None:
        return YamlFile(path, positions, ())
    if not isinstance(root, yaml.MappingNode):
        raise _problem(path, "yaml.not-a-mapping", "the top level of a spec or preset must be "
                       f"a mapping of keys, not a {_kind(root)}", "start with 'name: ...'",
                       line=root.start_mark.line + 1, column=root.start_mark.column + 1)
    sizes: dict[int, int] = {}

    def count(node: yaml.Node, depth: int) -> int:
        """Nodes after alias expansion; aliases share node objects, so memoise by id."""
        if depth > MAX_DEPTH:
            raise _problem(path, "yaml.too-deep", f"nesting deeper than {MAX_DEPTH} levels",
                           "flatten the document", line=node.start_mark.line + 1,
                           column=node.start_mark.column + 1)
        key = id(node)
        if key in sizes:
            if sizes[key] < 0:
                raise _problem(path, "yaml.recursive-alias", "an anchor refers to itself",
                               "remove the recursive alias", line=node.start_mark.line + 1)
            return sizes[key]
        sizes[key] = -1
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += count(k, depth + 1) + count(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                total += count(v, depth + 1)
        if total > MAX_NODES:
            raise _problem(path, "yaml.too-large", f"the document expands to more than "
                           f"{MAX_NODES:,} values (aliases multiply; this looks like a YAML "
                           "bomb)", "write the values out instead of nesting aliases",
                           line=node.start_mark.line + 1)
        sizes[key] = total
        return total

    count(root, 0)
    walker = yaml.SafeLoader("")
    merged_counts: dict[int, int] = {}  # mapping node -> how many of its pairs '<<' brought
    booleans: dict[KeyPath, str] = {}

    def merged_count(node: yaml.MappingNode) -> int:
        """Resolve '<<' merge keys as Hydra will (in place, once per node: aliases share
        nodes): the merged pairs come first, the pairs written in the mapping after them."""
        if id(node) not in merged_counts:
            written = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            try:
                walker.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark
                raise _problem(path, "yaml.merge", f"invalid merge key: {exc.problem}",
                               line=mark.line + 1 if mark else None) from None
            merged_counts[id(node)] = len(node.value) - written
        return merged_counts[id(node)]

    def walk(node: yaml.Node, prefix: KeyPath, depth: int) -> None:
        if isinstance(node, yaml.MappingNode):
            n_merged = merged_count(node)
            written = node.value[n_merged:]
            # a key written in the mapping overrides the same key from '<<' (the merge
            # idiom); among merged mappings the last one wins, as in YAML's loader
            pairs = {k.value: (k, v) for k, v in node.value[:n_merged]
                     if isinstance(k, yaml.ScalarNode)}
            for k, _ in written:
                if isinstance(k, yaml.ScalarNode):
                    pairs.pop(k.value, None)
            seen: dict[object, yaml.Node] = {}
            for key_node, value_node in [*pairs.values(), *written]:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _problem(path, "yaml.complex-key", "mapping keys must be plain "
                                   "strings", line=key_node.start_mark.line + 1,
                                   column=key_node.start_mark.column + 1)
                key = key_node.value
                if key_node.tag == BOOL_TAG:
                    raise _problem(
                        path, "yaml.boolean-key", f"the key {key} is read by YAML as a "
                        "boolean, not as the name written", f"quote it: '{key}':",
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                        key=format_path(prefix + (key,)))
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    raise _problem(
                        path, "yaml.duplicate-key",
                        f"key '{key}' appears twice in the same mapping (first on line "
                        f"{first})", "remove one of them; YAML would silently keep the last",
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                        key=format_path(prefix + (key,)))
                seen[key] = key_node
                child = prefix + (key,)
                positions[child] = Position(key_node.start_mark.line + 1,
                                            key_node.start_mark.column + 1, _kind(value_node))
                walk(value_node, child, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = prefix + (i,)
                positions[child] = Position(item.start_mark.line + 1,
                                            item.start_mark.column + 1, _kind(item))
                walk(item, child, depth + 1)
        elif node.tag == BOOL_TAG and prefix:
            booleans[prefix] = node.value

    walk(root, (), 0)
    top = tuple(k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode))
    return YamlFile(path, positions, top, booleans)


_CACHE: dict[tuple[str, int, int], YamlFile] = {}


def read_yaml_cached(path: Path) -> YamlFile:
    """read_yaml, memoised on (path, mtime, size): presets are shared by many specs."""
    try:
        st = path.stat()
    except OSError:
        return read_yaml(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    cached = _CACHE.get(key)
    if cached is None:
        cached = read_yaml(path)
        _CACHE[key] = cached
    return cached
