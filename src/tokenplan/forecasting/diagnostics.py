"""Backtest diagnostics for the forecast notebook: errors per fold and step, calibration, losses.

All take ``backtest_predictions`` (``series, target, origin, ds, step, y, <quantiles>,
method``; one fold per ``origin``) and score the rows with a known ``y``. WAPE (summed
absolute error over summed actuals) is used throughout because it adds up across series
of different size; MASE per series is in ``backtest_metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tokenplan.forecasting.conformal import empty_called

__all__ = ["BASELINES", "OUTCOMES", "HorizonBlocks", "backtest_folds", "beaten", "comparable_mase", "errors_by_fold",
           "errors_by_step", "horizon_blocks", "losses_text", "quantile_calibration", "uses_baseline",
           "where_model_loses"]

# The simple baselines a method is graded against, and where_model_loses' outcomes.
BASELINES = ("seasonal_naive", "mstl")
OUTCOMES = ("baseline wins", "forecast uses the baseline", "tie", "plan as good")
# Blocks a horizon chart needs to show a trend: a coarser unit is used only when the window holds this many.
MIN_BLOCKS = 4
_UNITS = (("week", pd.Timedelta(weeks=1)), ("day", pd.Timedelta(days=1)), ("hour", pd.Timedelta(hours=1)))
_BUCKET_NAMES = {"h": "hourly", "H": "hourly", "D": "daily", "W": "weekly"}


def _scored(predictions: pd.DataFrame) -> pd.DataFrame:
    """Rows with a known ``y`` on the backtest folds (tuning folds chose the methods: not graded)."""
    graded = predictions[predictions["role"] == "backtest"] if "role" in predictions else predictions
    rows = graded[np.isfinite(graded["y"])].copy()
    rows["series"] = rows["series"].astype(str)
    rows["target"] = rows["target"].astype(str)
    return rows


def backtest_folds(predictions: pd.DataFrame) -> dict[str, list[pd.Timestamp]]:
    """The fold origins by role, ``{"tuning": [...], "backtest": [...]}``, each sorted: only the backtest folds are
    graded (``_scored``), as in the report's layout; without a ``role`` column every fold is a backtest fold."""
    roles = predictions["role"] if "role" in predictions else pd.Series("backtest", index=predictions.index)
    origins = pd.DataFrame({"role": roles.astype(str), "origin": pd.to_datetime(predictions["origin"])})
    return {role: sorted(origins.loc[origins["role"] == role, "origin"].unique()) for role in ("tuning", "backtest")}


def errors_by_fold(predictions: pd.DataFrame, median: str = "p50") -> pd.DataFrame:
    """WAPE of the median per fold (``origin``) and target, one column per method."""
    rows = _scored(predictions)
    error = (rows["y"] - rows[median]).abs()
    keys = [rows["origin"], rows["target"], rows["method"]]
    wape = error.groupby(keys).sum() / rows["y"].abs().groupby(keys).sum()
    return wape.unstack("method").reset_index()


def errors_by_step(predictions: pd.DataFrame, median: str = "p50", steps_per_block: int = 7) -> pd.DataFrame:
    """WAPE of the median per block of ``steps_per_block`` steps ahead (weeks at daily
    frequency), pooled over folds, series and targets, one column per method."""
    rows = _scored(predictions)
    block = ((rows["step"] - 1) // steps_per_block + 1).astype(int).rename("block")
    error = (rows["y"] - rows[median]).abs()
    wape = error.groupby([block, rows["method"]]).sum() / rows["y"].abs().groupby([block, rows["method"]]).sum()
    return wape.unstack("method").reset_index()


@dataclass(frozen=True)
class HorizonBlocks:
    """How a horizon chart pools the steps ahead: ``buckets`` steps per block, each block one ``unit``."""

    unit: str          # "week", "day", "hour", or the bucket itself ("15min bucket")
    buckets: int       # steps (buckets) per block
    freq: str          # the run's bucket width (``feature_engineering.freq``: "h", "D")
    window: int        # steps each backtest fold forecasts

    @property
    def axis_label(self) -> str:
        """``days ahead of the forecast origin (each point pools 24 hourly buckets; folds forecast 168)``."""
        bucket = _BUCKET_NAMES.get(self.freq, f"{self.freq}")
        return (f"{self.unit}s ahead of the forecast origin (each point pools {self.buckets} {bucket} bucket"
                f"{'s' if self.buckets != 1 else ''}; the backtest folds forecast {self.window})")

    def tick_labels(self, blocks: Iterable[int]) -> list[str]:
        """Block numbers; a last block shorter than the others says how many of its buckets the folds hold."""
        labels = []
        for block in blocks:
            held = min(self.buckets, self.window - (int(block) - 1) * self.buckets)
            labels.append(f"{int(block)}" if held == self.buckets else f"{int(block)}\n({held} of {self.buckets})")
        return labels


def horizon_blocks(freq: str, window: int) -> HorizonBlocks:
    """Weeks ahead when the backtest ``window`` (steps of ``freq``) holds at least four, else days, else hours,
    else single buckets: a chart of "weeks ahead" over one week of hourly folds had 24 points of 7 hours each,
    and over an 8-day daily window a second "week" of one day."""
    bucket = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    whole = [(unit, width) for unit, width in _UNITS if width >= bucket and width % bucket == pd.Timedelta(0)]
    for unit, width in whole:
        if window * bucket >= MIN_BLOCKS * width:
            return HorizonBlocks(unit, int(width / bucket), freq, window)
    if whole:  # a short window: the finest unit
        unit, width = whole[-1]
        return HorizonBlocks(unit, int(width / bucket), freq, window)
    return HorizonBlocks(f"{freq} bucket", 1, freq, window)


def quantile_calibration(predictions: pd.DataFrame, quantiles: dict[str, float],
                         method: str = "chosen") -> pd.DataFrame:
    """Share of actuals at or below each quantile forecast, per target and fold, beside the
    nominal level (``quantiles``: column -> level, e.g. ``{"p10": 0.1}``); a calibrated
    forecast has shares near the nominal levels.

    Buckets forecast empty that came in empty are left out, as the report's coverage leaves them out
    (``conformal.empty_called``): a model that never writes to the cache read 53% "below P10" on its zeros,
    and "inside 45%" where the report said 91%.
    """
    rows = _scored(predictions[predictions["method"] == method])
    median = min(quantiles, key=lambda name: abs(quantiles[name] - 0.5))
    rows = rows[~empty_called(rows["y"], rows[median])]
    below = pd.DataFrame({name: (rows["y"] <= rows[name]).astype(float) for name in quantiles})
    below[["target", "origin"]] = rows[["target", "origin"]]
    shares = below.groupby(["target", "origin"])[list(quantiles)].mean().reset_index()
    shares["inside"] = shares[list(quantiles)[-1]] - shares[list(quantiles)[0]]
    return shares


def comparable_mase(metrics: pd.DataFrame, reference: str = "chosen") -> pd.DataFrame:
    """Per series and target (rows) and method (columns), the backtest MASE where the method was
    scored on as many rows as ``reference`` (NaN elsewhere): only those compare like with like.

    A method the guard dropped at a fold, or that could not fit one, is scored on the other
    folds only. After a 40-day gap every method missed the fold that followed it by 30%,
    except MSTL, which had no forecast there: its MASE over the other folds, 0.75, was set
    against the chosen method's 1.46 over all of them, and the report said a baseline beat it.
    """
    per_series = metrics[metrics["series"] != "all"]
    mase = per_series.pivot_table(index=["series", "target"], columns="method", values="mase")
    if reference not in mase or "n" not in per_series:
        return mase
    n = per_series.pivot_table(index=["series", "target"], columns="method", values="n")
    return mase.where(n.eq(n[reference], axis=0))


def beaten(model_mase: pd.Series, baseline_mase: pd.Series, margin: float = 0.0) -> np.ndarray:
    """Where a baseline's MASE is below the model's by more than ``margin`` of it: the selection rule's margin
    (``training.selection.margin``), under which the rule reads two methods as tied on the folds."""
    return (baseline_mase < model_mase * (1 - margin)).to_numpy(dtype=bool)


def uses_baseline(keys: Iterable[tuple[str, str]], baselines: Iterable[object],
                  methods: dict[str, str] | None) -> np.ndarray:
    """Per ``(series, target)``, whether the forecast's method (``methods``: ``series|target`` -> method, chosen on
    every fold) is that key's best baseline: a baseline win the forecast already acts on."""
    return np.array([(methods or {}).get(f"{s}|{t}") == b for (s, t), b in zip(keys, baselines, strict=True)], bool)


def where_model_loses(metrics: pd.DataFrame, model: str = "chosen",
                      baselines_of: tuple[str, ...] = BASELINES, margin: float = 0.0,
                      methods: dict[str, str] | None = None, planned: set[str] | None = None) -> pd.DataFrame:
    """Per series and target: the ``model``'s MASE (the method chosen per series by default),
    the best simple baseline and its MASE, the margin (baseline minus model; negative
    where a baseline is ahead), worst first, and the ``outcome`` as the report counts it (``OUTCOMES``):
    a baseline ahead by more than the selection rule's ``margin`` (a share of the model's MASE) wins, unless the
    forecast already uses it (``methods``: ``series|target`` -> the forecast's method); ahead by less is a tie.
    A baseline counts only where it was scored on the model's rows (``comparable_mase``); with ``planned``, only
    those series count (one that ended before the forecast is in the backtest, not in the plan)."""
    per_series = comparable_mase(metrics, model)
    if planned is not None:
        per_series = per_series[per_series.index.get_level_values("series").astype(str).isin(planned)]
    baselines = per_series[[b for b in baselines_of if b in per_series.columns]]
    table = pd.DataFrame({"model_mase": per_series[model], "best_baseline": baselines.dropna(how="all").idxmin(axis=1),
                          "baseline_mase": baselines.min(axis=1)})
    table["margin"] = table["baseline_mase"] - table["model_mase"]
    ahead, wins = beaten(table["model_mase"], table["baseline_mase"]), beaten(table["model_mase"],
                                                                           table["baseline_mase"], margin)
    used = uses_baseline(table.index, table["best_baseline"], methods)
    table["outcome"] = np.select([wins & ~used, wins & used, ahead], OUTCOMES[:3], OUTCOMES[3])
    return table.sort_values("margin").reset_index()


def losses_text(losses: pd.DataFrame, margin: float = 0.0) -> str:
    """One line counting ``where_model_loses``' outcomes, as the report's "Forecast method and backtest" counts
    them (its summary weighs the wins as a risk)."""
    counts = losses["outcome"].value_counts()
    wins, used, ties = (int(counts.get(o, 0)) for o in OUTCOMES[:3])
    beyond = f" by more than the selection rule's margin ({margin:.0%} of the plan's MASE)" if margin > 0 else ""
    return (f"A baseline beats the plan{beyond} on {wins} of {len(losses)} planned series/targets"
            + (" (the report's summary weighs them as a risk)" if wins else "")
            + (f"; {used} more where the forecast already uses the baseline that won" if used else "")
            + (f"; {ties} {'is a tie' if ties == 1 else 'are ties'} (a baseline ahead by less than the margin)"
               if ties else "") + ".")
