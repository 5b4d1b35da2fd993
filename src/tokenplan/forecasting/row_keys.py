"""Each row's ``series|target`` key as a number: one string per key, not per row.

The backtest's fold table holds every candidate at every fold (millions of rows at
1,000 series); building a ``series|target`` string per row, and hashing it, cost tens
of seconds and gigabytes each time the intervals were calibrated. Rows carry numbers
here, and the strings exist once per key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RowKeys", "drawn_keys", "series_target_codes"]


def series_target_codes(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Per row the number of its ``series|target`` key, and the keys: one string per pair, not per row
    (a fold table at 1,000 series has millions of rows)."""
    series, series_names = pd.factorize(rows["series"])
    target, target_names = pd.factorize(rows["target"])
    targets = list(target_names.astype(str))
    keys = [f"{s}|{t}" for s in series_names.astype(str) for t in targets]
    return series * len(target_names) + target, keys


@dataclass(frozen=True)
class RowKeys:
    """Per row its key's number (``key``, into ``keys``) and its target's (``target``, into the sorted
    ``targets``); per key its target's number (``key_target``) and its place among the keys sorted
    as text (``key_rank``)."""

    key: np.ndarray
    keys: list[str]
    target: np.ndarray
    targets: list[str]
    key_target: np.ndarray
    key_rank: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame) -> RowKeys:
        """The keys of ``rows`` (``series`` and ``target`` columns)."""
        key, keys = series_target_codes(rows)
        appearance, names = pd.factorize(rows["target"])
        names = list(names.astype(str))
        ranks = np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"), kind="stable")
        sorted_names = sorted(names)
        key_target = ranks[np.arange(len(keys)) % max(len(names), 1)] if names else np.zeros(0, int)
        key_rank = np.argsort(np.argsort(np.asarray(keys, dtype=object), kind="stable"), kind="stable")
        return cls(key, keys, ranks[appearance] if len(appearance) else appearance, sorted_names, key_target,
                   key_rank)

    def take(self, positions: np.ndarray) -> RowKeys:
        """The same keys for the rows at ``positions``."""
        return RowKeys(self.key[positions], self.keys, self.target[positions], self.targets, self.key_target,
                       self.key_rank)

    def per_key(self, lookup) -> np.ndarray:
        """``lookup(key, target)`` for each row, called once per key present."""
        present = np.unique(self.key)
        values = np.empty(len(self.keys), dtype=object)
        for k in present:
            values[k] = lookup(self.keys[k], self.targets[self.key_target[k]])
        return values[self.key]

    def scales(self, scales: dict[str, float] | None) -> np.ndarray:
        """Per row its key's noise scale (the median scale for a key without one; 1 without scales)."""
        if not scales:
            return np.ones(len(self.key))
        typical = float(np.median(list(scales.values())))
        return self.per_key(lambda key, _: scales.get(key, typical)).astype(float)


def drawn_keys(rows: pd.DataFrame, max_rows: int, seed: int, counted: np.ndarray | None = None) -> np.ndarray:
    """A mask of ``rows``: every row when there are at most ``max_rows``; else the rows of whole
    ``series|target`` keys drawn at random with ``seed``, as many as fit in ``max_rows`` rows (at
    least one key), so a drawn key keeps all its rows. ``counted`` (a mask): only those rows count
    toward ``max_rows``, and a key with none of them is never drawn."""
    counted = np.ones(len(rows), bool) if counted is None else np.asarray(counted, bool)
    if counted.sum() <= max_rows:
        return np.ones(len(rows), bool)
    codes, keys = series_target_codes(rows)
    sizes = pd.Series(np.bincount(codes[counted], minlength=len(keys)), index=np.arange(len(keys)))
    sizes = sizes[sizes > 0]
    sizes = sizes.iloc[np.argsort(np.asarray(keys, dtype=object)[sizes.index], kind="stable")]  # by key text
    drawn = sizes.iloc[np.random.default_rng(seed).permutation(len(sizes))]
    fits = drawn.cumsum().to_numpy() <= max_rows
    fits[0] = True
    return np.isin(codes, drawn.index[fits].to_numpy())
