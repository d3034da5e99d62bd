"""Check a serialized Earth Engine graph against the asset registry, offline.

Why: the offline client proves that every ``ee`` call exists with the right arguments, but not
that ``X`` in ``ee.Image("X")`` is an image, has the band a ``select`` asks for, or carries the
property a ``Filter`` tests, nor *when* the pixels behind a layer were taken. This module walks
the JSON of ``ee.Image.serialize()`` (``values`` / ``valueReference`` / ``argumentReference`` /
``functionDefinitionValue`` nodes) and reports:

* every ``Image.load`` / ``ImageCollection.load`` whose id is not registered or whose type
  differs from the registry's (:func:`check_graph`);
* every ``select`` (also the per-image ``select`` inside ``Collection.map``, which is how
  ``ImageCollection.select`` serializes) of a band the asset lacks, and every band a
  ``linkCollection`` links that the linked collection lacks;
* every ``Collection.filter`` on a property the asset does not list;
* for layers that must describe the ground *before* the event (:func:`pre_event_violations`):
  every pixel input that is a dated collection not date-filtered to end by the pre window, or a
  static map whose period ends after the pre window starts.

Band and property checks apply while the data is still the asset's own ("pristine": loads,
filters, ``first``, ``mosaic``, ``clip``, ``updateMask``, ``setDefaultProjection``): after a
``map`` or a reducer the bands are the recipe's own and the registry has nothing to say.
Filter arguments (e.g. the relative-orbit choice, which reads orbit numbers of both windows)
are metadata, not pixels, and are left out of the date check by design.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from gee_landslide.earthengine.assets import ASSET_BY_ID, GEOMETRY_FIELDS, SYSTEM_PROPERTIES, Asset

LOADS = {"Image.load": "Image", "ImageCollection.load": "ImageCollection"}
PRISTINE = {"Collection.filter": "collection", "Collection.limit": "collection",
            "Collection.first": "collection", "ImageCollection.mosaic": "collection",
            "Image.clip": "input", "Image.clipToBoundsAndScale": "input",
            "Image.updateMask": "image", "Image.setDefaultProjection": "image"}
DERIVED = {"Collection.map": "collection", "ImageCollection.qualityMosaic": "collection",
           "ImageCollection.merge": "collection1"}
FILTER_FIELDS = ("leftField", "rightField")


@dataclass(frozen=True)
class Src:
    """Where an image or collection node's data comes from."""

    asset: str
    kind: str
    pristine: bool
    extra_bands: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadUse:
    """One path from the result to an asset load: the date windows applied on the way."""

    asset: str
    kind: str
    dates: tuple[tuple[str, str], ...]
    pixel: bool
    linked: bool


class _Walker:
    def __init__(self, graph: dict[str, Any], registry: dict[str, Asset]) -> None:
        self.g = graph
        self.registry = registry
        self.problems: list[str] = []
        self.uses: set[LoadUse] = set()
        self._seen: set[tuple[int, tuple, tuple, bool, bool]] = set()

    # -- helpers
    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "valueReference" in node:
            node = self.g["values"][node["valueReference"]]
        return node

    def const(self, node: Any) -> Any:
        node = self.resolve(node)
        if not isinstance(node, dict):
            return None
        if "constantValue" in node:
            return node["constantValue"]
        if "arrayValue" in node:
            return [self.const(v) for v in node["arrayValue"]["values"]]
        return None

    def invocation(self, node: Any) -> tuple[str, dict[str, Any]] | None:
        node = self.resolve(node)
        if isinstance(node, dict) and "functionInvocationValue" in node:
            inv = node["functionInvocationValue"]
            return inv.get("functionName", ""), inv.get("arguments", {})
        return None

    def source(self, node: Any, env: tuple[tuple[str, Src | None], ...]) -> Src | None:
        node = self.resolve(node)
        if isinstance(node, dict) and "argumentReference" in node:
            return dict(env).get(node["argumentReference"])
        inv = self.invocation(node)
        if inv is None:
            return None
        fn, args = inv
        if fn in LOADS:
            return Src(str(self.const(args.get("id"))), LOADS[fn], True)
        if fn in PRISTINE:
            return self.source(args.get(PRISTINE[fn]), env)
        if fn == "Collection.map":
            # a map whose body only passes the asset's image through (linkCollection, mask...)
            # keeps the asset's bands; any other body makes the recipe's own bands
            s = self.source(args.get("collection"), env)
            fdef = self.resolve(args.get("baseAlgorithm"))
            if s and isinstance(fdef, dict) and "functionDefinitionValue" in fdef:
                names = fdef["functionDefinitionValue"].get("argumentNames", [])
                inner = (*env, *((n, s) for n in names))
                body = self.source(self.g["values"][fdef["functionDefinitionValue"]["body"]], inner)
                if body is not None:
                    return body
            return replace(s, pristine=False) if s else None
        if fn in DERIVED or fn.startswith("reduce."):
            s = self.source(args.get(DERIVED.get(fn, "collection")), env)
            return replace(s, pristine=False) if s else None
        if fn == "Image.linkCollection":
            s = self.source(args.get("input"), env)
            linked = self.const(args.get("linkedBands")) or []
            return replace(s, extra_bands=(*s.extra_bands, *linked)) if s else None
        return None

    def entry(self, asset_id: str) -> Asset | None:
        return self.registry.get(asset_id) or ASSET_BY_ID.get(asset_id)

    def filter_info(self, node: Any) -> tuple[list[str], list[tuple[str, str]]]:
        """(property names, date ranges) a filter tests (through Filter.and/or/not)."""
        inv = self.invocation(node)
        if inv is None:
            return [], []
        fn, args = inv
        props: list[str] = []
        dates: list[tuple[str, str]] = []
        if fn in ("Filter.and", "Filter.or"):
            for f in self.const_list_nodes(args.get("filters")):
                p, d = self.filter_info(f)
                props += p
                dates += d if fn == "Filter.and" else []
            return props, dates
        if fn == "Filter.not":
            return self.filter_info(args.get("filter"))[0], []
        for key in FILTER_FIELDS:
            value = self.const(args.get(key)) if key in args else None
            if isinstance(value, str):
                props.append(value)
        if fn == "Filter.dateRangeContains":
            rng = self.invocation(args.get("leftValue"))
            if rng and rng[0] == "DateRange":
                start, end = self.const(rng[1].get("start")), self.const(rng[1].get("end"))
                if isinstance(start, str) and isinstance(end, str):
                    dates.append((start, end))
        return props, dates

    def const_list_nodes(self, node: Any) -> list[Any]:
        node = self.resolve(node)
        if isinstance(node, dict) and "arrayValue" in node:
            return list(node["arrayValue"]["values"])
        return []

    # -- checks at one invocation
    def check_invocation(self, fn: str, args: dict[str, Any], env: tuple) -> None:
        if fn in LOADS:
            asset_id = str(self.const(args.get("id")))
            entry = self.entry(asset_id)
            if entry is None:
                self.problems.append(f"{fn}({asset_id!r}): asset not in the registry (assets.py)")
            elif entry.type != LOADS[fn]:
                self.problems.append(
                    f"{fn}({asset_id!r}): the registry says it is an {entry.type} "
                    f"({next(iter(entry.source.values()))})")
        elif fn == "Image.select":
            src = self.source(args.get("input"), env)
            entry = self.entry(src.asset) if src else None
            if src and src.pristine and entry is not None and entry.bands:
                selectors = self.const(args.get("bandSelectors")) or []
                for sel in selectors if isinstance(selectors, list) else [selectors]:
                    if isinstance(sel, str) and sel not in entry.bands and sel not in src.extra_bands:
                        self.problems.append(f"select({sel!r}) on {src.asset}: no such band "
                                             f"(bands: {', '.join(entry.bands)})")
                    elif isinstance(sel, int) and not 0 <= sel < len(entry.bands):
                        self.problems.append(f"select({sel}) on {src.asset}: only {len(entry.bands)} band(s)")
        elif fn == "Image.linkCollection":
            linked = self.source(args.get("imageCollection"), env)
            entry = self.entry(linked.asset) if linked else None
            for band in self.const(args.get("linkedBands")) or []:
                if entry is not None and band not in entry.bands:
                    self.problems.append(f"linkCollection of {linked.asset}: no band {band!r}")  # type: ignore[union-attr]
        elif fn == "Collection.filter":
            src = self.source(args.get("collection"), env)
            entry = self.entry(src.asset) if src else None
            if src and src.pristine and entry is not None:
                props, _ = self.filter_info(args.get("filter"))
                allowed = set(entry.properties) | SYSTEM_PROPERTIES | GEOMETRY_FIELDS
                for prop in props:
                    if prop not in allowed:
                        self.problems.append(f"filter on {prop!r} of {src.asset}: not a property the "
                                             f"registry lists ({', '.join(entry.properties) or 'none'})")

    # -- traversal
    def visit(self, node: Any, env: tuple = (), dates: tuple = (), pixel: bool = True,
              linked: bool = False) -> None:
        node = self.resolve(node)
        if not isinstance(node, dict):
            return
        key = (id(node), env, dates, pixel, linked)
        if key in self._seen:
            return
        self._seen.add(key)
        if "arrayValue" in node:
            for v in node["arrayValue"]["values"]:
                self.visit(v, env, (), pixel)
            return
        if "dictionaryValue" in node:
            for v in node["dictionaryValue"]["values"].values():
                self.visit(v, env, (), pixel)
            return
        if "functionDefinitionValue" in node:
            self.visit(self.g["values"][node["functionDefinitionValue"]["body"]], env, (), pixel)
            return
        inv = self.invocation(node)
        if inv is None:
            return
        fn, args = inv
        self.check_invocation(fn, args, env)
        if fn in LOADS:
            self.uses.add(LoadUse(str(self.const(args.get("id"))), LOADS[fn], dates, pixel, linked))
            return
        for name, arg in args.items():
            if fn == "Collection.filter" and name == "collection":
                _, more = self.filter_info(args.get("filter"))
                self.visit(arg, env, (*dates, *more), pixel, linked)
            elif fn == "Collection.filter" and name == "filter":
                self.visit(arg, env, (), False)
            elif fn == "Collection.map" and name == "baseAlgorithm":
                fdef = self.resolve(arg)
                if isinstance(fdef, dict) and "functionDefinitionValue" in fdef:
                    names = fdef["functionDefinitionValue"].get("argumentNames", [])
                    src = self.source(args.get("collection"), env)
                    inner = tuple((k, v) for k, v in env if k not in names) + tuple((n, src) for n in names)
                    self.visit(self.g["values"][fdef["functionDefinitionValue"]["body"]], inner, (), pixel)
                else:
                    self.visit(arg, env, (), pixel)
            elif fn == "Image.linkCollection" and name == "imageCollection":
                self.visit(arg, env, (), pixel, True)
            elif (fn in PRISTINE and name == PRISTINE[fn]) or (fn in DERIVED) or fn.startswith("reduce."):
                self.visit(arg, env, dates, pixel, linked)
            else:
                self.visit(arg, env, (), pixel)


def walk(graph: str | dict[str, Any], registry: dict[str, Asset] | None = None) -> _Walker:
    g = json.loads(graph) if isinstance(graph, str) else graph
    w = _Walker(g, registry or {})
    w.visit(g["values"][g["result"]])
    return w


def check_graph(graph: str | dict[str, Any], registry: dict[str, Asset] | None = None) -> list[str]:
    """Registry mismatches of a serialized graph (empty: none). ``registry`` adds configured ids."""
    return sorted(set(walk(graph, registry).problems))


def load_uses(graph: str | dict[str, Any], registry: dict[str, Asset] | None = None) -> set[LoadUse]:
    return walk(graph, registry).uses


def pre_event_violations(graph: str | dict[str, Any], pre_start: dt.date, pre_end: dt.date,
                         registry: dict[str, Asset] | None = None) -> list[str]:
    """Pixel inputs of a pre-event layer that may postdate the pre window ``[pre_start, pre_end]``."""
    limit = (pre_end + dt.timedelta(days=1)).isoformat()  # EE filterDate ends are exclusive
    reg = registry or {}
    out: list[str] = []
    for use in load_uses(graph, registry):
        if not use.pixel:
            continue
        entry = reg.get(use.asset) or ASSET_BY_ID.get(use.asset)
        if entry is None:
            out.append(f"{use.asset}: not in the registry, its dates are unknown")
            continue
        if entry.role == "linked" and use.linked:
            continue  # joined scene by scene to a dated collection that is checked itself
        if entry.role == "static":
            last = entry.coverage[1]
            if last is None or last >= pre_start:
                out.append(f"{use.asset}: a map of {entry.coverage[0]}..{last or 'today'}, not before "
                           f"the pre window {pre_start}..{pre_end}")
            continue
        if not use.dates:
            out.append(f"{use.asset}: used with no date filter (any date, also after {pre_end})")
        elif min(end for _, end in use.dates) > limit:
            ends = ", ".join(sorted({end for _, end in use.dates}))
            out.append(f"{use.asset}: date filter ends {ends}, after the pre window ({pre_end})")
    return sorted(set(out))
