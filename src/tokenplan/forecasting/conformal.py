"""Conformal recalibration of quantiles on out-of-sample backtest errors.

Errors ``e_a = z_true - z_hat_a`` (log-ratio space) come from rolling-origin backtest
folds the model was not trained on; in-sample residuals, which make intervals far too
narrow, are never used. They are *normalised*: each is divided by its series' noise
scale (the robust spread of season-over-season log changes in the history the model was
trained on: week-over-week where the weekly season drives the features), so one pooled
quantile per target serves series of very different volatility. A row's shift is
``scale(series, target) * offset_a(target)``.

For a quantile model the offset for level ``a`` is the empirical ``a``-quantile of its
normalised errors. For a point model (every level has the same error) the point
forecast is not shifted and level ``a`` is offset by ``sign(a - 0.5)`` times the
``|2a - 1|``-quantile of the absolute normalised errors (split conformal with absolute
residuals): the errors' quantiles would also move the centre by their median, which
with a few folds is one fold's level error rather than a bias (on Taylor's hourly
demand, 3 folds, it doubled the MASE of two folds of the three).

Why not fit each series on its own? Errors within one fold are strongly correlated (a
level error persists over the whole horizon), so with a few folds a per-series offset
mostly memorises one fold's bias; normalised pooling keeps per-series widths without
that noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from tokenplan.forecasting.row_keys import RowKeys

# A bucket forecast below this and realised empty is an empty bucket called empty: it has no error to calibrate
# an interval on (``method_choice.fold_step_errors``) and is not counted in the coverage (``backtest.score_backtest``).
EMPTY_POINT = 0.05

__all__ = ["EMPTY_POINT", "StepErrors", "fit_offsets", "fit_step_widths", "level_shares", "noise_scales", "offsets_for",
           "recency_weights", "robust_spread", "step_offsets"]

_SCALES = "__scales__"
_WIDEST = "__widest__"
_LEVEL_SHARE = "__level_share__"


def _keys(series: pd.Series, target: pd.Series) -> list[str]:
    return [f"{s}|{t}" for s, t in zip(series.astype(str), target.astype(str), strict=True)]


def _per_row(values: pd.Series | np.ndarray, lookup) -> np.ndarray:
    """``lookup(value)`` for each row, called once per distinct value (a million rows hold a few thousand)."""
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    return np.asarray([lookup(u) for u in uniques])[codes]


def robust_spread(change: np.ndarray | pd.Series) -> float:
    """A robust std of ``change``: ``1.4826 x MAD``, but at least half of ``1.2533 x`` the mean absolute deviation.

    Both read the std of normal changes (and MAD alone ignores a few bursts, as it
    should). A sparse series' season-over-season changes are mostly ``0 -> 0``, so its
    MAD is zero while most of its mass moves: dividing its backtest errors by a floored
    zero made them thousands of "noise units", and every series shrunk toward its
    target's pooled widths inherited them (a steady model beside one used one day in ten
    got a P10 of zero and a P90 five times its level). The mean absolute deviation sees
    the sparse moves; at half weight it never binds on a normal or Laplace series, whose
    two estimates agree within 25%.
    """
    values = np.asarray(change, dtype=float)
    if not len(values):
        return float("nan")
    mad = median_abs_deviation(values, scale="normal")
    mean_deviation = np.sqrt(np.pi / 2) * np.mean(np.abs(values - np.median(values)))
    return float(max(mad, 0.5 * mean_deviation))


def noise_scales(examples: pd.DataFrame, season: int) -> dict[str, float]:
    """Robust std (``robust_spread``) of season-over-season log changes per ``series|target``."""
    rows = examples[(examples["step"] <= season) & np.isfinite(examples["z"])]
    stated = rows["stated_effect"] if "stated_effect" in rows else 0.0
    change = np.log1p(rows["y"]) - stated - (rows["last_same_phase"] + rows["log_level"])
    frame = pd.DataFrame({"key": _keys(rows["series"], rows["target"]), "change": change.to_numpy()}).dropna()
    spread = frame.groupby("key")["change"].agg(robust_spread)
    return {k: float(max(v, 1e-3)) for k, v in spread.items()}


def _row_keys(series: pd.Series, target: pd.Series) -> RowKeys:
    return RowKeys.of(pd.DataFrame({"series": np.asarray(series), "target": np.asarray(target)}))


def _row_scales(scales: dict[str, float] | None, series: pd.Series, target: pd.Series) -> np.ndarray:
    return _row_keys(series, target).scales(scales)


def offsets_for(offsets: dict, series: pd.Series, target: pd.Series) -> np.ndarray:
    """Shift per row and quantile: the series' scale times its target's (or the pooled) offsets."""
    pooled = offsets["__all__"]
    per_target = _per_row(target.astype(str).to_numpy(dtype=object), lambda t: offsets.get(t, pooled)).astype(float)
    return per_target * _row_scales(offsets.get(_SCALES), series, target)[:, None]


def fit_offsets(errors: pd.DataFrame, quantiles: list[float], scales: dict[str, float] | None = None,
                min_rows: int = 60, symmetric: bool = True) -> dict:
    """Normalised conformal offsets per ``target`` and pooled (``__all__``), plus the scales used.

    ``errors`` has ``series`` and ``target`` columns and one column ``e{i}`` per
    quantile holding ``z_true - z_hat`` for that quantile. A target with fewer than
    ``min_rows`` errors uses the pooled offsets. ``symmetric`` (a point model, whose
    columns are all the same error): intervals symmetric about the unshifted point
    forecast, from absolute errors; otherwise (a quantile model) each level's own
    error quantile (see the module docstring).
    """
    columns = [f"e{i}" for i in range(len(quantiles))]
    normalised = errors[columns].to_numpy() / _row_scales(scales, errors["series"], errors["target"])[:, None]

    def offsets(mask: np.ndarray) -> list[float]:
        if symmetric:
            size = np.abs(normalised[mask, 0])
            return [float(np.sign(q - 0.5) * np.quantile(size, abs(2 * q - 1))) for q in quantiles]
        return [float(np.quantile(normalised[mask, i], q)) for i, q in enumerate(quantiles)]

    result: dict = {"__all__": offsets(np.ones(len(errors), bool))}
    targets = errors["target"].astype(str).to_numpy()
    for target in np.unique(targets):
        if (targets == target).sum() >= min_rows:
            result[target] = offsets(targets == target)
    if scales:
        result[_SCALES] = dict(scales)
    return result


def step_bins(window: int, season: int, max_bins: int = 4) -> list[int]:
    """Right edges (in steps) of the step groups whose errors calibrate their own width."""
    n = int(max(1, min(max_bins, window // max(season, 1))))
    return [int(round(window * (i + 1) / n)) for i in range(n)]


def fit_step_widths(errors: pd.DataFrame, quantiles: list[float], scales: dict[str, float] | None,
                    edges: list[int], min_rows: int = 30) -> dict:
    """Symmetric normalised offsets per step group, per target and pooled, never narrowing with the step.

    ``errors`` has ``series, target, step, e`` with ``e = log1p(y) - log1p(point)``. Within
    each group of steps (``edges``: right edges), level ``a`` is offset by
    ``sign(a - 0.5)`` times the ``|2a - 1|``-quantile of the absolute normalised errors;
    a cumulative maximum over the groups keeps a later step's interval at least as wide
    as an earlier one's. A target whose group has fewer than ``min_rows`` errors uses
    the pooled offsets.

    **Recent folds weigh more.** With an ``origin`` column, each error is weighted by its
    fold's rank (1 for the oldest fold, ``K`` for the latest) and the quantiles are
    weighted ones (``_segment_quantiles``): conformal prediction beyond exchangeability
    (Barber, Candes, Ramdas and Tibshirani, 2023) weights calibration scores by how
    close their data are to the forecast's, and a usage series drifts, so the weeks just
    before the origin say more about next week's errors than the first weeks do. The
    backtest (``method_choice._calibrated``) weights its folds the same way. On Taylor's
    hourly demand a summer dip gave the fourth of five folds the largest level error
    (3.4%); with equal weights the calm first folds held the 80% quantile down, and the
    next week's recovery fell outside P10-P90 in 73% of its hours.

    Per series and target, the offsets are the series' own errors shrunk toward its
    target's (``n`` own errors weigh ``n / (n + min_rows)``). Pooling alone let one
    series' structural break (a launch the model missed) widen every other series'
    intervals: on a four-month Console-shaped export the steady model's daily P10-P90
    spanned 100x by the fifth month. Shrinkage keeps the few-folds caution of pooling
    (one fold's bias is not memorised) while a series' own errors move its width.

    Many fits on parts of one error table (each fold's widths from the other folds, per
    method): ``StepErrors``, which keys the rows once.
    """
    keys = RowKeys.of(errors)
    weight = recency_weights(errors["origin"]) if "origin" in errors else None
    fold = pd.factorize(errors["origin"])[0] if "origin" in errors else None
    return StepErrors(errors["e"].to_numpy(), errors["step"].to_numpy(), keys, scales, edges, weight, fold).widths(
        quantiles, min_rows)


def level_shares(widths: dict) -> dict[str, float]:
    """The level shares (per target and ``__all__``) ``widths`` grows by past the window; empty without."""
    return dict(widths.get(_LEVEL_SHARE, {}))


def recency_weights(origin: pd.Series | np.ndarray) -> np.ndarray:
    """Per error row its fold's weight: the fold's rank among the folds, 1 for the oldest."""
    codes, _ = pd.factorize(np.asarray(origin), sort=True)
    return codes + 1.0


class StepErrors:
    """Backtest errors in ``log1p`` (``e``) with their steps, keys, weights (``weight``, default equal:
    the recency weights of ``fit_step_widths``) and folds (``fold``, default one), for
    ``fit_step_widths`` on any part.

    The rows are keyed and normalised once; ``widths(rows=...)`` fits the offsets of the
    rows at those positions, the same dictionary ``fit_step_widths`` gives on those rows.
    """

    def __init__(self, e: np.ndarray, step: np.ndarray, keys: RowKeys, scales: dict[str, float] | None,
                 edges: list[int], weight: np.ndarray | None = None, fold: np.ndarray | None = None):
        self.signed = np.asarray(e, dtype=float) / keys.scales(scales)  # normalised; |signed| is the size
        self.step = np.asarray(step, dtype=np.int32)
        self.fold = np.zeros(len(self.signed), dtype=np.int32) if fold is None else np.asarray(fold, dtype=np.int32)
        group = np.searchsorted(np.asarray(edges), np.asarray(step), side="left")
        self.group = np.minimum(group, len(edges) - 1)
        self.weight = np.ones(len(self.signed)) if weight is None else np.asarray(weight, dtype=float)
        self.keys, self.edges, self.scales = keys, list(edges), scales

    def widths(self, quantiles: list[float], min_rows: int = 30, rows: np.ndarray | None = None,
               level_shares: bool = True, pool: np.ndarray | None = None) -> dict:
        """``fit_step_widths``' offsets from the rows at ``rows`` (ascending positions; default all).

        ``level_shares`` False leaves out the level shares (``_level_shares``), which only steps
        past the backtested window read: a fold calibrated on the other folds never has any.
        ``pool`` (ascending positions; default ``rows``): the rows that set the pooled and
        per-target offsets, the ceiling and the level shares, while each key's own offsets come
        from its rows in ``rows`` (``tokenplan.forecasting.forecast_calibration``).
        """
        rows = np.arange(len(self.signed)) if rows is None else rows
        pool = rows if pool is None else pool
        size, group, weight = np.abs(self.signed[rows]), self.group[rows], self.weight[rows]
        target, key = self.keys.target[rows], self.keys.key[rows]
        pool_size, pool_target = np.abs(self.signed[pool]), self.keys.target[pool]
        edges = self.edges
        signs = np.sign(np.asarray(quantiles) - 0.5)
        levels = np.abs(2 * np.asarray(quantiles) - 1)

        n_groups = len(edges)
        pooled_quantiles = _segment_quantiles(pool_size, self.group[pool], n_groups, levels, self.weight[pool])
        target_quantiles = _segment_quantiles(pool_size, pool_target * n_groups + self.group[pool],
                                              len(self.keys.targets) * n_groups, levels,
                                              self.weight[pool])  # every target's groups in one sort

        def table(quantiles_counts: tuple[np.ndarray, np.ndarray], fallback: np.ndarray | None,
                  first: int = 0) -> np.ndarray:
            out = np.zeros((len(edges), len(quantiles)))
            quantile, count = (part[first:first + n_groups] for part in quantiles_counts)
            for g in range(len(edges)):
                if count[g] < min_rows and fallback is not None:
                    out[g] = fallback[g]
                elif count[g]:
                    out[g] = signs * quantile[g]
                elif g:
                    out[g] = out[g - 1]
            # Never narrower further out: cumulative maximum of each level's magnitude.
            return np.sign(out) * np.maximum.accumulate(np.abs(out), axis=0)

        names = self.keys.targets
        present = np.unique(target)  # target numbers follow their names' order
        pooled = table(pooled_quantiles, None)
        pool_present = np.unique(pool_target)
        result: dict = {"edges": list(edges), "__all__": pooled.tolist(),
                        _WIDEST: {"__all__": _widest(pool_size),
                                  **{names[t]: _widest(pool_size[pool_target == t]) for t in pool_present}}}
        per_target = {t: table(target_quantiles, pooled, t * n_groups) for t in present}
        # Every key's own offsets at once (thousands of series: a loop per key cost minutes).
        n_keys = len(self.keys.keys)
        own, counts = _segment_quantiles(size, key * len(edges) + group, n_keys * len(edges), levels, weight)
        own, counts = own.reshape(n_keys, len(edges), len(levels)), counts.reshape(n_keys, len(edges), 1)
        mine_keys = np.unique(key)
        key_target = self.keys.key_target[mine_keys]
        toward = np.stack([per_target[t] for t in key_target]) if len(mine_keys) else own[:0]
        counts = counts[mine_keys]
        weight = counts / (counts + min_rows)
        mine = np.where(counts > 0, signs * np.nan_to_num(own[mine_keys]), 0.0)
        shrunk = weight * mine + (1 - weight) * toward
        shrunk = np.sign(shrunk) * np.maximum.accumulate(np.abs(shrunk), axis=1)
        for t in present:
            result[names[t]] = per_target[t].tolist()
            of_target = np.flatnonzero(key_target == t)
            for i in of_target[np.argsort(self.keys.key_rank[mine_keys[of_target]], kind="stable")]:
                result[self.keys.keys[mine_keys[i]]] = shrunk[i].tolist()
        if self.scales:
            result[_SCALES] = dict(self.scales)
        if level_shares:
            result[_LEVEL_SHARE] = self._level_shares(pool, pool_target, names, pool_present)
        return result

    def _level_shares(self, rows: np.ndarray, target: np.ndarray, names: list[str], present: np.ndarray) -> dict:
        """Per target (and pooled, ``__all__``) the share of the errors' variance that grows like a level error.

        A fold's level error for a series is the mean of its errors over the fold's steps; the
        rest is the buckets' own noise. Past the backtested window a level error accumulates
        (``step_offsets``), while noise that comes and goes bucket by bucket is no wider a
        quarter out than a week out. Noise that does not come and go bucket by bucket (its
        lag-one autocorrelation ``r`` within folds above zero: a slow swing the window is too
        short to read as a level) counts as level in proportion: the share is
        ``1 - (1 - level share) * (1 - r)``. Without that, a quarter ahead of 120 days of
        Wikipedia's page views held 75.7% of days inside P10-P90 instead of 78.9%; with it, a
        model used about once a day (Poisson noise, ``r`` near zero) keeps its narrower P90.
        """
        signed, step = self.signed[rows], self.step[rows]
        cell = self.fold[rows].astype(np.int64) * max(len(self.keys.keys), 1) + self.keys.key[rows]
        level = (np.bincount(cell, weights=signed) / np.maximum(np.bincount(cell), 1))[cell]
        noise = signed - level
        order = np.lexsort((step, cell))  # each fold and key's rows in step order
        follows = np.flatnonzero((cell[order][1:] == cell[order][:-1]) & (step[order][1:] == step[order][:-1] + 1))
        before, after = order[follows], order[follows + 1]

        def share(mask: np.ndarray) -> float:
            level_var, noise_var = float(np.mean(level[mask] ** 2)), float(np.mean(noise[mask] ** 2))
            if level_var + noise_var <= 0:
                return 1.0
            pairs = mask[before]
            lag_one = (float(np.mean(noise[before][pairs] * noise[after][pairs])) / noise_var
                       if pairs.any() and noise_var > 0 else 1.0)
            return 1 - (1 - level_var / (level_var + noise_var)) * (1 - float(np.clip(lag_one, 0.0, 1.0)))

        shares = {"__all__": share(np.ones(len(signed), bool)) if len(signed) else 1.0}
        shares.update({names[t]: share(target == t) for t in present})
        return shares


def _segment_quantiles(values: np.ndarray, segment: np.ndarray, n_segments: int, levels: np.ndarray,
                       weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Per segment the weighted ``levels`` quantiles of its values, NaN where it has none; its count of values).

    Within a segment the values are sorted and the ``i``-th (cumulative weight ``C_i``, own
    weight ``w_i``, segment total ``W``, last weight ``w_n``) sits at plotting position
    ``(C_i - w_i) / (W - w_n)``; a level is read by linear interpolation between positions.
    With equal weights the positions are ``i / (n - 1)``: numpy's default (linear)
    quantile, exactly. All segments are done at once (thousands of series' keys).
    """
    values = np.asarray(values, dtype=float)
    weight = np.ones(len(values)) if weight is None else np.asarray(weight, dtype=float)
    counts = np.bincount(segment, minlength=n_segments)
    out = np.full((n_segments, len(levels)), np.nan)
    if not len(values):
        return out, counts
    # Sorted by segment, then value: by value first, then a stable sort by segment (radix on
    # 16-bit codes, the usual case; np.lexsort took twice as long).
    order = np.argsort(values)
    codes = segment[order]
    order = order[np.argsort(codes.astype(np.uint16) if n_segments <= 65536 else codes, kind="stable")]
    v, w, seg = values[order], weight[order], segment[order]
    ends = np.cumsum(counts)
    starts = ends - counts
    cum = np.cumsum(w)
    before = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = np.where(counts > 0, cum[np.maximum(ends - 1, 0)] - before, 0.0)
    last = np.where(counts > 0, w[np.maximum(ends - 1, 0)], 0.0)
    span = total - last
    present = np.flatnonzero(counts > 0)
    single = counts[present] == 1
    position = np.divide(cum - before[seg] - w, span[seg], out=np.zeros(len(v)), where=span[seg] > 0)
    # Segments laid end to end on one axis (segment number + position in [0, 1]) for one searchsorted.
    axis = seg * 2.0 + position
    distinct, column = np.unique(levels, return_inverse=True)
    for i, level in enumerate(distinct):
        lo = np.searchsorted(axis, present * 2.0 + level, side="right") - 1
        lo = np.clip(lo, starts[present], ends[present] - 1)
        hi = np.minimum(lo + 1, ends[present] - 1)
        gap = position[hi] - position[lo]
        frac = np.divide(level - position[lo], gap, out=np.zeros(len(lo)), where=gap > 0)
        value = v[lo] + np.clip(frac, 0, 1) * (v[hi] - v[lo])
        for at in np.flatnonzero(column == i):
            out[present, at] = np.where(single, v[starts[present]], value)
    return out, counts


def _widest(size: np.ndarray, level: float = 0.95) -> float:
    """The normalised absolute error ``level`` of the backtest's errors stayed within: the widest
    P90/P50 ratio it has evidence for (a single burst's error is not that evidence)."""
    return float(np.quantile(size, level)) if len(size) else 0.0


def step_offsets(widths: dict, series: pd.Series, target: pd.Series, step: pd.Series,
                 keys: RowKeys | None = None) -> np.ndarray:
    """Shift per row and quantile for ``step``: its group's offsets, scaled by the series' noise.

    Steps beyond the last backtested group are extrapolated: the last group's width
    times ``sqrt(share * step / window + 1 - share)`` (``window`` = the last edge), where
    ``share`` is the part of the target's backtest error variance that is each fold's level
    error (``StepErrors._level_shares``): a level error accumulates like a random walk, the
    buckets' own noise does not grow with the step. All of it grown like a level error, a
    model used about once a day (Poisson noise, no level error to speak of) got a daily P90
    of 4.4 requests four months out and a quarter whose P90 was 3.4 times its P50. Never
    past the normalised error that 95% of the target's backtest errors stayed within (``_widest``): a P90/P50 ratio the folds never
    came near is not evidence, it is extrapolation (a quarter ahead of 61 bursty days put
    a daily P90 at 6,700 times the history's busiest day). ``keys``: the rows' keys, if
    already at hand (``series`` and ``target`` are then not read).
    """
    keys = keys if keys is not None else _row_keys(series, target)
    edges = np.asarray(widths["edges"])
    steps = np.asarray(step, dtype=float)
    group = np.minimum(np.searchsorted(edges, steps, side="left"), len(edges) - 1)
    pooled = np.asarray(widths["__all__"])
    # One (groups, quantiles) table per key present, each row's group taken from its key's table.
    present = np.unique(keys.key)
    position = np.zeros(len(keys.keys), dtype=int)
    position[present] = np.arange(len(present))
    tables = [np.asarray(widths.get(keys.keys[k], widths.get(keys.targets[keys.key_target[k]], pooled)), dtype=float)
              for k in present]
    per_target = np.stack(tables)[position[keys.key], group] if tables else np.zeros((0, pooled.shape[-1]))
    share_of = level_shares(widths)
    shares = np.array([share_of.get(t, share_of.get("__all__", 1.0)) for t in keys.targets], dtype=float)
    share = shares[keys.target] if len(shares) else np.ones(len(steps))
    growth = np.sqrt(share * np.maximum(steps / edges[-1], 1.0) + (1 - share))
    widest = widths.get(_WIDEST, {})
    ceilings = np.array([widest.get(t, widest.get("__all__", np.inf)) for t in keys.targets], dtype=float)
    ceiling = ceilings[keys.target] if len(ceilings) else np.zeros(len(steps))
    magnitude = np.minimum(np.abs(per_target) * growth[:, None], np.maximum(ceiling[:, None], np.abs(per_target)))
    return np.sign(per_target) * magnitude * keys.scales(widths.get(_SCALES))[:, None]
