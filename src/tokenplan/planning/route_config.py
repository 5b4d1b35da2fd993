"""The routes a run prices: ``planning.routes.definitions`` with ``planning.routes.overrides`` applied, each
knowing which of its inputs the user set, and where.

``definitions`` is a list, which ``--params`` cannot reach into (``definitions.5.fx_rate`` is no key
OmegaConf can merge); ``overrides`` maps a route's name to the inputs to change, so one number is one
``--params planning.routes.overrides.relay_cny.fx_rate=7.3``. A wrong override (no such route, no such
input, a value the input does not take) is one ``ValueError`` naming the parameter.

Where an input came from decides its label: a value the user set is theirs, whatever the source string
beside it in the shipped configuration says ("assumed for the demo: ..."). ``sources`` (dotted parameter
path -> where it was set: ``--params``, ``conf/local``; ``tokenplan.parameter_sources``) adds the inputs a
run changed in ``definitions`` itself; every input in ``overrides`` is the user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tokenplan.parameter_sources import dotted_leaves
from tokenplan.planning.routes import OneTimeCost, Route

__all__ = ["OVERRIDES", "configured_routes"]

OVERRIDES = "planning.routes.overrides"
_DEFINITIONS = "planning.routes.definitions"
# Inputs an override cannot change: they say which route it is.
_FIXED = ("name", "kind", "set_by_user")


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


def _inputs_changed(changes: Mapping[str, Any]) -> list[str]:
    """The dotted inputs an override sets (``fx_rate``, ``one_time.engineering_days``)."""
    return [leaf for leaf in dotted_leaves(changes) if leaf]


def _check_inputs(name: str, changes: Any) -> None:
    """A one-line error for an override that names no input of the route (or gives no mapping of inputs)."""
    if not isinstance(changes, Mapping):
        raise ValueError(f"{OVERRIDES}.{name}: give the route's inputs to change, e.g. "
                         f"--params {OVERRIDES}.{name}.eligible_share=0.5 (got {changes!r})")
    inputs = [f for f in Route.model_fields if f not in _FIXED]
    for key, value in changes.items():
        if key not in inputs:
            raise ValueError(f"{OVERRIDES}.{name}.{key}: {'cannot be overridden' if key in _FIXED else 'no such input'}"
                             f" (a route's inputs: {', '.join(inputs)}; docs/costs/index.md)")
        if key == "one_time":
            if not isinstance(value, Mapping):
                raise ValueError(f"{OVERRIDES}.{name}.one_time: give its parts, e.g. "
                                 f"{OVERRIDES}.{name}.one_time.engineering_days=5")
            unknown = [k for k in value if k not in OneTimeCost.model_fields]
            if unknown:
                raise ValueError(f"{OVERRIDES}.{name}.one_time.{unknown[0]}: no such input (one_time's inputs: "
                                 f"{', '.join(OneTimeCost.model_fields)})")


def _where_set(index: int, name: str, changes: Mapping[str, Any], sources: Mapping[str, str]) -> dict[str, str]:
    """Each input of route ``name`` (at ``index`` in the definitions) the user set, and where."""
    out = {}
    prefix = f"{_DEFINITIONS}.{index}."
    for path, where in sources.items():
        parts = path[len(prefix):].split(".") if path.startswith(prefix) else []
        if parts and parts[0] not in _FIXED:  # a list input (risks) is one input, whichever item changed
            out[".".join(parts[:next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))])] = where
    for leaf in _inputs_changed(changes):
        out[leaf] = sources.get(f"{OVERRIDES}.{name}.{leaf}", OVERRIDES)
    return out


def _one_line(error: ValidationError, name: str, changed: Mapping[str, Any]) -> str:
    """The first problem pydantic found, named by its parameter (the override's, where it was overridden)."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    leaves = _inputs_changed(changed)
    if field:
        where = (f"{OVERRIDES}.{name}.{field}" if field.split(".")[0] in changed
                 else f"{_DEFINITIONS} ({name}).{field}")
    else:  # the route's inputs together (a caching share and its reads per write): the overridden ones, if any
        where = (f"{OVERRIDES}.{name}" + (f".{leaves[0]}" if len(leaves) == 1 else "") if leaves
                 else f"{_DEFINITIONS} ({name})")
    value = f" (got {first['input']!r})" if field and not isinstance(first.get("input"), Mapping) else ""
    return f"{where}: {first['msg'].removeprefix('Value error, ')}{value}"


def configured_routes(routes: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> list[Route]:
    """The routes of ``planning.routes`` (``definitions``, then ``overrides`` by route name), in their order.

    ``sources``: dotted parameter path -> where a run set it (``--params``, ``conf/local``); the routes'
    ``set_by_user`` says which inputs the user set. Raises ``ValueError`` naming the parameter for an
    override of no route or no input, and for a value a route does not take.
    """
    definitions = list(routes.get("definitions") or [])
    overrides = routes.get("overrides") or {}
    names = [str(d.get("name")) for d in definitions]
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{OVERRIDES}: a mapping from route name to the inputs to change (got {overrides!r})")
    for name in overrides:
        if name not in names:
            raise ValueError(f"{OVERRIDES}.{name}: no route is named {name!r} (routes: {', '.join(names)})")
    out = []
    for index, definition in enumerate(definitions):
        name = names[index]
        changes = overrides.get(name)
        changes = {} if changes is None else changes
        _check_inputs(name, changes)
        try:
            route = Route(**_merged(definition, changes))
        except ValidationError as error:
            raise ValueError(_one_line(error, name, changes)) from None
        out.append(route.model_copy(update={"set_by_user": _where_set(index, name, changes, sources or {})}))
    return out
