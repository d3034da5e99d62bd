"""The one way the project reads a YAML file: bounded, UTF-8, safe.

A catalog or profile is a few kilobytes a person wrote, so anything far larger or deeper is a
mistake or an attack: a 10 KB "billion laughs" alias bomb expands to gigabytes once a loader (or
our own ``dict`` copy of the tree) follows its aliases, and a deeply nested flow sequence
exhausts the composer's recursion. These limits are checked on the file's size before reading it
and on the parser's event stream (no objects built) before anything is composed, so a bad file
fails fast with a message naming it. Loading itself uses ruamel's ``safe`` loader (no Python
objects from tags) or, for the catalog, its round-trip loader, which is equally tag-safe.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)

from gee_landslide.core.errors import GeeLandslideError

MAX_YAML_BYTES = 2 * 1024 * 1024  # the catalog is ~20 KB; 100x that is still a hand-written file
MAX_ALIASES = 50  # the project's own files use none
MAX_DEPTH = 50  # the catalog nests 4 deep
MAX_NODES = 200_000  # nodes after expanding aliases: ~400x the catalog's
# the only explicit tags a data file may use: YAML's own types (never !!python/..., never local !tags)
SAFE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                 "timestamp", "binary", "omap", "set")}


class YamlLimitError(GeeLandslideError, ValueError):
    """A YAML file that is too large, too deep, alias-heavy, not UTF-8 or not a file."""


def read_yaml_text(path: str | os.PathLike[str], max_bytes: int = MAX_YAML_BYTES) -> str:
    """The text of a YAML file, refusing a directory, an oversized file and non-UTF-8 bytes."""
    path = Path(path)
    if path.is_dir():
        raise YamlLimitError(f"{path} is a directory, not a YAML file", file=path, field="<file>",
                             value=str(path), hint="give the path of the .yaml file itself")
    if not path.exists():
        raise YamlLimitError(f"{path}: file not found", file=path)
    size = path.stat().st_size
    if size > max_bytes:
        raise YamlLimitError(f"{path}: {size:,} bytes is more than the {max_bytes:,} a YAML file may have",
                             file=path, field="size", value=size)
    with open(path, "rb") as fh:  # read at most one byte past the limit: a FIFO or growing file stops too
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlLimitError(f"{path}: more than {max_bytes:,} bytes", file=path, field="size", value=len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlLimitError(
            f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}); save the file as UTF-8",
            file=path, field="encoding", value=f"offset {exc.start}",
        ) from None


def check_yaml_structure(
    text: str,
    file: str = "<yaml>",
    max_aliases: int = MAX_ALIASES,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> None:
    """Refuse alias bombs, deep nesting and non-data tags by scanning parser events, before
    composing anything.

    A syntax error is left to the loader that follows (it reports it with its line).
    """
    aliases = 0
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list[Any]] = []  # open collections: [anchor, node count]
    total = 0

    def where(ev: Any) -> str:
        mark = getattr(ev, "start_mark", None)
        return f"{file}:{mark.line + 1}" if mark is not None else file

    def add(n: int, ev: Any) -> None:
        nonlocal total
        total += n
        if stack:
            stack[-1][1] += n
        if total > max_nodes:
            raise YamlLimitError(f"{where(ev)}: more than {max_nodes:,} YAML nodes once aliases are expanded "
                                 "(an alias bomb?)", file=file, field="aliases", value=f"{aliases} aliases")

    for ev in YAML(typ="safe", pure=True).parse(text):
        tag = getattr(ev, "tag", None)
        if tag is not None and str(tag) not in SAFE_TAGS:
            raise YamlLimitError(f"{where(ev)}: the tag {str(tag).replace('tag:yaml.org,2002:', '!!')} is not "
                                 "allowed in a data file", file=file, field="tag", value=str(tag))
        if isinstance(ev, AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                raise YamlLimitError(f"{where(ev)}: more than {max_aliases} YAML aliases (*name)", file=file,
                                     field="aliases", value=aliases)
            add(sizes.get(ev.anchor, 1), ev)
        elif isinstance(ev, ScalarEvent):
            if ev.anchor:
                sizes[ev.anchor] = 1
            add(1, ev)
        elif isinstance(ev, CollectionStartEvent):
            stack.append([ev.anchor, 1])
            if len(stack) > max_depth:
                raise YamlLimitError(f"{where(ev)}: YAML nested more than {max_depth} levels deep", file=file,
                                     field="depth", value=len(stack))
        elif isinstance(ev, CollectionEndEvent) and stack:
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            total += 1
            if stack:
                stack[-1][1] += n


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Plain Python data from a YAML file, within the limits above (safe loader)."""
    text = read_yaml_text(path)
    check_yaml_structure(text, str(path))
    return YAML(typ="safe", pure=True).load(text)
