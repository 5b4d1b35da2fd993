"""Where a run's parameters were set, where not by the shipped ``conf/base``: ``--params`` or the run's environment.

The shipped configuration marks the inputs it made up for the demo ("assumed for the demo: ..."), and the
report says a saving rests on them. A user who changes such a value (``--params
planning.roi.annual_discount_rate=0.12``, or a ``conf/local`` file that sets it alone) leaves its source
string behind, and the report called the user's number the demo's. ``ParameterSourceHooks``
(``tokenplan.hooks``) puts this module's table in the catalog as ``parameter_sources``, and the labels are
made from where each value actually came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

__all__ = ["PARAMS", "dotted_leaves", "environment_parameters", "parameter_sources"]

PARAMS = "--params"


def dotted_leaves(value: Any, lists: bool = False, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value of every leaf of nested mappings, as ``--params`` names them (``a.b.c``); an empty
    mapping is a leaf. ``lists``: a list's items too, by their index (``definitions.5.fx_rate``)."""
    if isinstance(value, Mapping) and value:
        items = value.items()
    elif lists and isinstance(value, list) and value:
        items = enumerate(value)
    else:
        return {prefix.rstrip("."): value}
    out = {}
    for key, item in items:
        out.update(dotted_leaves(item, lists, f"{prefix}{key}."))
    return out


def parameter_sources(shipped: Mapping[str, Any], effective: Mapping[str, Any],
                      runtime_params: Mapping[str, Any] | None, env: str,
                      env_params: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Dotted parameter path -> ``--params`` or ``conf/<env>`` for each parameter the run set or changed.

    ``shipped``: the parameters of ``conf/base`` alone; ``effective``: the run's; ``runtime_params``: its
    ``--params`` (nested, as Kedro holds them), and ``env_params``: the parameters its environment's own files
    set (``conf/local``); both count even where they repeat the shipped value (a planner who writes the shipped
    8% discount rate in ``conf/local`` has made it theirs, as with ``--params``).
    """
    given = set(dotted_leaves(runtime_params or {})) - {""}
    in_env = set(dotted_leaves(env_params or {}, lists=True)) - {""}
    before = dotted_leaves(shipped, lists=True)
    out = {}
    for path, value in dotted_leaves(effective, lists=True).items():
        if path in given or any(path.startswith(f"{g}.") for g in given):
            out[path] = PARAMS
        elif path in in_env or any(path.startswith(f"{g}.") for g in in_env) or path not in before \
                or before[path] != value:
            out[path] = f"conf/{env}"
    return out


def environment_parameters(conf_source: str | Path, env: str, patterns: Sequence[str]) -> dict[str, Any]:
    """The parameters the environment's own files set (``conf/<env>``, the files ``patterns`` match, as Kedro's
    config loader matches them), merged, unresolved; {} where it has none."""
    folder = Path(conf_source) / env
    if not folder.is_dir():
        return {}
    merged = OmegaConf.create({})
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml", ".json")):
        if any(fnmatch(str(path.relative_to(folder).with_suffix("")), pattern) for pattern in patterns):
            merged = OmegaConf.merge(merged, OmegaConf.load(path))
    return OmegaConf.to_container(merged, resolve=False)
