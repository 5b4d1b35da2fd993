"""Conformal recalibration of quantiles on out-of-sample backtest errors.

For each quantile level ``a`` and target, the offset ``c_a`` is the empirical
``a``-quantile of ``z_true - z_hat_a`` over rolling-origin backtest windows, i.e. the
shift that makes the level-``a`` quantile cover a fraction ``a`` of held-out outcomes.
The errors always come from folds the model was not trained on; in-sample residuals,
which make intervals far too narrow, are never used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fit_offsets", "offsets_for"]


def offsets_for(offsets: dict[str, list[float]], series: pd.Series, target: pd.Series) -> np.ndarray:
    """Offsets per row: the (series, target) group if calibrated, else the target's, else pooled."""
    pooled = offsets["__all__"]
    rows = [offsets.get(f"{s}|{t}", offsets.get(str(t), pooled))
            for s, t in zip(series.astype(str), target.astype(str), strict=True)]
    return np.asarray(rows, dtype=float)


def fit_offsets(errors: pd.DataFrame, quantiles: list[float], min_rows: int = 60) -> dict[str, list[float]]:
    """Offsets per ``series|target``, per ``target`` and pooled (``__all__``) from ``errors``.

    ``errors`` has ``series`` and ``target`` columns and one column ``e{i}`` per
    quantile holding ``z_true - z_hat`` for that quantile. A group with fewer than
    ``min_rows`` errors falls back to the next coarser group, so a new model with a
    short backtest gets the pooled width rather than a noisy one.
    """
    columns = [f"e{i}" for i in range(len(quantiles))]

    def offsets(frame: pd.DataFrame) -> list[float]:
        return [float(np.quantile(frame[c], q)) for c, q in zip(columns, quantiles, strict=True)]

    result = {"__all__": offsets(errors)}
    for target, frame in errors.groupby("target", observed=True):
        if len(frame) >= min_rows:
            result[str(target)] = offsets(frame)
    for (series, target), frame in errors.groupby(["series", "target"], observed=True):
        if len(frame) >= min_rows:
            result[f"{series}|{target}"] = offsets(frame)
    return result
