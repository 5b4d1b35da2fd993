"""The plausibility guard: an envelope every candidate forecast must stay inside.

A forecast a planner sees must be plausible against the history it came from. Before a
candidate can be chosen, combined, or turned into totals, peaks and costs, its P50 at
every step must lie inside an envelope built from that series' own history up to the
origin (no future value is read):

- **base**: per phase of the season, the larger of the highest value at that phase in
  the last ``recent_seasons`` seasons and the highest recent season mean; below, the
  smaller of the lowest value at that phase and the lowest recent season mean; and the
  mean of each whole season of the forecast at least the lowest recent season mean over
  ``lower_divisor`` and the evidenced fall (the upper bound, mirrored): an intermittent
  series has an empty day at every phase, so its phase lows are 0, and log-space
  candidates (their geometric mean of a half-empty week is a few requests) forecast a
  key used every other day at a tenth of its level;
- **evidenced growth** ``g(s)``: the largest rise (fall, for the lower bound) of one
  season mean over another at most ``s`` seasons later anywhere in the history, where
  ``s`` is how many seasons ahead the step lies; a span longer than the history is
  bounded by the largest change the whole history shows (no compounding beyond it);
  for the P90 cap below, the rise counted is from the highest season mean before it (a
  recovery from a dip is no growth) and the largest less ``growth_noise_z`` (2) times the
  noise of the series' block-to-block changes, so a steady ramp keeps its growth and a
  sparse series' up-and-down weeks are not read as one;
- **stated event effects**: a planned launch the planner sized at x1.5 lifts the bound
  by 1.5 at the times it covers;
- ``upper = p50_multiple * base * g(s) * effect``, ``lower = low / (lower_divisor * g_down(s))``
  (looser below: a holiday or a learned calendar dip legitimately forecasts a bucket
  well under the recent same-phase lows, while an explosion is the failure seen).

A candidate with any step outside is dropped for that series at that origin, and the
drop is recorded (``dropped``): the method section and the risks list name it. The
seasonal naive, which repeats the history, stays inside by construction, so every
series always keeps a candidate. The P90 is capped at ``p90_multiple * base * g(s) *
effect``: an interval past the backtested window may widen, but never to a daily P90
hundreds of times the busiest day the history holds.

Why an envelope and not only a better trend: an MSTL with an exponential AutoETS trend
fitted in log space on seven weeks of bursty hours forecast 216,000 requests in an
hour whose history maximum was 33,000; a tree model or a combination inherits such a
member. Evidenced growth keeps a real ramp (a model adopted a month ago that doubles
every week is allowed to keep doubling at the rate the history shows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from tokenplan.forecasting.settings import FromParams

__all__ = ["GuardSettings", "cap_upper_quantiles", "capped_summary", "capped_upper_values", "concat_drops", "envelope",
           "envelope_bounds", "guard_candidates"]


HALF_UNIT = 0.5  # of a request or a token: a point this close above its upper bound is not outside it


@dataclass(frozen=True)
class GuardSettings(FromParams):
    """The guard's parameters (``training.guard`` in ``parameters_training.yml``)."""

    section: ClassVar[str] = "training.guard"

    recent_seasons: int = 4
    p50_multiple: float = 1.5
    p90_multiple: float = 3.0
    lower_divisor: float = 5.0
    min_window: int = 28
    # The P90 cap's evidenced growth is the largest rise less this many times the series'
    # block-to-block noise (a sparse series' weekly means jump up and down; the largest
    # jump is not growth). The P50's envelope keeps the whole rise: candidates that follow
    # a real ramp were dropped with it.
    growth_noise_z: float = 2.0
    # MSTL's trend (AutoETS on log1p) may be undamped only for a series observed this many
    # weekly seasons; a shorter history gets no trend or a damped one, by AICc (a few
    # seasons cannot support an exponential trend in log space; tokenplan.forecasting.ets_trend).
    undamped_trend_seasons: int = 12
    # MSTL and the lag model read the history with isolated spikes (hourly or finer: a run
    # of at most three hours above this many times its usual value) clipped to their usual
    # value (tokenplan.forecasting.spikes); None: read as recorded.
    spike_ratio: float | None = 5.0


def _history_grid(series: pd.DataFrame, origin: pd.Timestamp, freq: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Keys (``series, target``) and their values on a complete grid ending at ``origin`` (NaN: missing)."""
    history = series[series["ds"] <= origin]
    keys = history[["series", "target"]].drop_duplicates().astype(str).sort_values(["series", "target"])
    keys = keys.reset_index(drop=True)
    start = history["ds"].min() if len(history) else origin
    times = pd.date_range(start, origin, freq=freq)
    wide = history.astype({"series": str, "target": str}).pivot_table(
        index=["series", "target"], columns="ds", values="y", aggfunc="first", dropna=False)
    wide = wide.reindex(pd.MultiIndex.from_frame(keys)).reindex(columns=times)
    return keys, wide.to_numpy(dtype=float)


def _blocks(values: np.ndarray, size: int) -> np.ndarray:
    """Values cut into whole blocks of ``size`` ending at the last column: (keys, blocks, size), oldest first.

    A history shorter than one block is one block, missing (NaN) before its first value.
    """
    if values.shape[1] < size:
        values = np.concatenate([np.full((values.shape[0], size - values.shape[1]), np.nan), values], axis=1)
    count = values.shape[1] // size
    return values[:, values.shape[1] - count * size:].reshape(values.shape[0], count, size)


def _nan(function, array: np.ndarray, axis) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing phase or block
        return function(array, axis=axis)


def _change_noise(logs: np.ndarray) -> np.ndarray:
    """Per key, the noise of one block's log change (0 with fewer than three second differences).

    From the second differences (``1.4826 x MAD / sqrt(3)``): a steady ramp changes by the
    same amount every block and a ramp that starts after a flat stretch bends once, so
    neither reads as noise; a sparse series' weekly means jump up and down.
    """
    bends = np.diff(logs, n=2, axis=1)
    spread = 1.4826 * _nan(np.nanmedian, np.abs(bends - _nan(np.nanmedian, bends, axis=1)[:, None]), axis=1)
    enough = np.isfinite(bends).sum(axis=1) >= 3
    return np.where(enough, np.nan_to_num(spread) / np.sqrt(3.0), 0.0)


def _growth(means: np.ndarray, spans: np.ndarray, rising: bool, noise_z: tuple[float, ...] = (0.0,),
            from_high: bool = False) -> list[np.ndarray]:
    """``g(s)`` per key and span, once per ``noise_z``: the largest rise (or fall) of a block mean
    over at most ``s`` blocks.

    In log1p, so a zero block does not make the ratio infinite. A span longer than the
    history is bounded by the largest change the whole history shows: compounding it
    further would be an exponential trend the history cannot support. The largest change
    less ``noise_z`` times the series' block-to-block noise (``_change_noise``) counts as
    evidence: the largest of many jumps of a noisy series is noise, not growth. The
    largest changes are found once for every ``noise_z``.
    """
    logs = np.log1p(means)
    n = logs.shape[1]
    if n < 2:
        return [np.ones((logs.shape[0], len(spans))) for _ in noise_z]
    # ``from_high``: a rise counts from the highest level reached so far, not from a dip: a month
    # at a tenth (a partial outage, a holiday shutdown) and its recovery read as tenfold growth,
    # and the P90 cap let a quarter's P90 reach seven times its P50.
    reached = np.fmax.accumulate(logs, axis=1) if rising and from_high else logs
    best = np.zeros((logs.shape[0], n))  # best[:, d]: largest log change over spans up to d blocks
    for d in range(1, n):
        change = logs[:, d:] - reached[:, :-d]
        change = change if rising else -change
        step_best = np.nan_to_num(_nan(np.nanmax, change, axis=1), nan=0.0)
        best[:, d] = np.maximum(best[:, d - 1], np.maximum(step_best, 0.0))
    at_spans = best[:, np.minimum(np.asarray(spans, dtype=int), n - 1)]
    noise = _change_noise(logs)[:, None] if any(noise_z) else 0.0
    return [np.exp(np.maximum(at_spans - z * noise, 0.0)) for z in noise_z]


def envelope(series: pd.DataFrame, origin: pd.Timestamp, rows: pd.DataFrame, season: int, freq: str,
             settings: GuardSettings) -> pd.DataFrame:
    """``rows`` (``series, target, step`` [, ``stated_effect``]) with ``lower``, ``upper`` and ``upper_p90``.

    Bounds from the history of ``series`` (long ``series, target, ds, y``) up to ``origin``
    (see the module docstring). A series with no observed history gets no bound (NaN).
    """
    return rows.assign(**envelope_bounds(series, origin, rows, season, freq, settings))


def envelope_bounds(series: pd.DataFrame, origin: pd.Timestamp, rows: pd.DataFrame, season: int, freq: str,
                    settings: GuardSettings) -> dict[str, np.ndarray]:
    """``envelope``'s ``upper``, ``upper_p90`` and ``lower`` per row, as arrays (``rows`` is not copied)."""
    keys, values = _history_grid(series, origin, freq)
    period = max(int(season), 1)
    window = max(settings.recent_seasons * period, settings.min_window)
    window = int(np.ceil(window / period)) * period
    recent = _blocks(values[:, -window:] if values.shape[1] >= window else values, period)
    phase_high = _nan(np.nanmax, recent, axis=1)                      # (keys, period)
    phase_low = _nan(np.nanmin, recent, axis=1)
    # Season means for the level and for growth: a block under half observed is unknown.
    growth_block = period if period > 1 else 7
    blocks = _blocks(values, growth_block)
    observed = np.isfinite(blocks).sum(axis=2)
    means = np.where(observed * 2 >= growth_block, _nan(np.nanmean, blocks, axis=2), np.nan)
    recent_means = means[:, -max(1, window // growth_block):]
    high_mean = _nan(np.nanmax, recent_means, axis=1)
    low_mean = _nan(np.nanmin, recent_means, axis=1)

    index = pd.MultiIndex.from_frame(keys)
    position = index.get_indexer(pd.MultiIndex.from_arrays([rows["series"].astype(str), rows["target"].astype(str)]))
    steps = rows["step"].to_numpy(dtype=int)
    phase = (steps - 1) % period
    spans = np.maximum(1, np.ceil(steps / growth_block)).astype(int)
    unique_spans, span_index = np.unique(spans, return_inverse=True)
    (rise,) = _growth(means, unique_spans, rising=True)
    (rise_p90,) = _growth(means, unique_spans, rising=True, noise_z=(settings.growth_noise_z,), from_high=True)
    (fall,) = _growth(means, unique_spans, rising=False)
    known = position >= 0
    safe = np.where(known, position, 0)
    high = np.fmax(phase_high[safe, phase], high_mean[safe])
    low = np.fmin(phase_low[safe, phase], low_mean[safe])
    stated = rows["stated_effect"].to_numpy(dtype=float) if "stated_effect" in rows else np.zeros(len(rows))
    stated = np.nan_to_num(stated)
    grow_up = rise[safe, span_index] * np.exp(np.maximum(stated, 0.0))
    grow_down = fall[safe, span_index] * np.exp(np.maximum(-stated, 0.0))
    grow_p90 = rise_p90[safe, span_index] * np.exp(np.maximum(stated, 0.0))
    return {"upper": np.where(known, settings.p50_multiple * high * grow_up, np.nan),
            "upper_p90": np.where(known, settings.p90_multiple * high * grow_p90, np.nan),
            "lower": np.where(known, low / (settings.lower_divisor * grow_down), np.nan),
            # A whole season's mean gets the per-step floor's margin: with the upper bound's (x1.5) it dropped every
            # candidate of a series whose stated promotion the candidates had divided out, and a candidate
            # following a fall of the last three days (the last week's mean reads only part of it).
            "lower_mean": np.where(known, low_mean[safe] / (settings.lower_divisor * grow_down), np.nan)}


def _season_block(season: int) -> int:
    """Steps in one season block of the guard's season means (a week of days for a season of one step)."""
    period = max(int(season), 1)
    return period if period > 1 else 7


def _below_season_floor(bounded: pd.DataFrame, season: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: how far its whole season block's mean falls below the block's ``lower_mean`` (0: not below),
    and the block's mean point and bound.

    A phase's low is 0 wherever an intermittent series had an empty day at that phase, so the
    per-step floor says nothing there; the season's mean still does. Only whole blocks of the
    forecast are judged (a partial one may hold only the weekend of a weekday-only key).
    """
    block = _season_block(season)
    frame = pd.DataFrame({"series": bounded["series"].astype(str).to_numpy(),
                          "target": bounded["target"].astype(str).to_numpy(),
                          "method": bounded["method"].astype(str).to_numpy(),
                          "block": (bounded["step"].to_numpy(dtype=int) - 1) // block,
                          "point": bounded["point"].to_numpy(dtype=float),
                          "bound": bounded["lower_mean"].to_numpy(dtype=float)})
    grouped = frame.groupby(["series", "target", "method", "block"], sort=False)
    size = grouped["point"].transform("size").to_numpy()
    point, bound = grouped["point"].transform("mean").to_numpy(), grouped["bound"].transform("mean").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((size == block) & (point < bound * (1 - 1e-9)), bound / np.where(point > 0, point, 0.0), 0.0)
    return np.nan_to_num(ratio, nan=0.0, posinf=np.inf), point, bound


def guard_candidates(points: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, season: int, freq: str,
                     settings: GuardSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``points`` without the candidates that leave the envelope, and the drops.

    ``points`` is the long ``series, target, ds, step, method, point`` table of one
    origin (``tokenplan.forecasting.candidates``). A method with any step outside the
    envelope loses all its rows for that series and target. The drops table has one row
    per dropped (series, target, method): ``origin``, ``side`` (above or below), the
    ``step`` of the worst excess, the ``point`` there and its ``bound``, and ``ratio``
    (point over bound for above, bound over point for below; infinite against a bound of 0 or a
    point of 0). A point within half a unit above its upper bound is inside (``HALF_UNIT``).
    """
    bounded = envelope(series, origin, points, season, freq, settings)
    point = bounded["point"].to_numpy(dtype=float)
    upper, lower = bounded["upper"].to_numpy(dtype=float), bounded["lower"].to_numpy(dtype=float)
    # Counts come in whole units: a point within half a unit above its bound is not outside it (XGBoost's
    # 0.0007 tokens on a target that was always zero had been dropped as 1.8e308 times its bound). Not
    # below: a trickle of one request a day kept members forecasting nothing, and its P50 fell to 0.4 of
    # its level. Against a bound of 0 (or a point of 0 below a bound) the ratio is infinite, and said so.
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.where(point > upper * (1 + 1e-9) + HALF_UNIT, point / upper, 0.0)
        below = np.where(point < lower * (1 - 1e-9), lower / np.where(point > 0, point, 0.0), 0.0)
    below = np.nan_to_num(below, nan=0.0, posinf=np.inf)
    season_below, season_point, season_bound = _below_season_floor(bounded, season)
    # A season's mean below its floor is shown as that mean against the floor's.
    by_season = season_below > below
    bounded["point"] = np.where(by_season, season_point, point)
    bounded["lower"] = np.where(by_season, season_bound, lower)
    below = np.fmax(below, season_below)
    bounded["excess"] = np.nan_to_num(np.maximum(above, below), nan=0.0, posinf=np.inf)
    bounded["side"] = np.where(above >= below, "above", "below")
    outside = bounded[bounded["excess"] > 0]
    columns = ["series", "target", "origin", "method", "side", "step", "point", "bound", "ratio"]
    if outside.empty:
        return points, pd.DataFrame(columns=columns)
    worst = outside.loc[outside.groupby(["series", "target", "method"], observed=True)["excess"].idxmax()]
    drops = pd.DataFrame({
        "series": worst["series"].astype(str).to_numpy(), "target": worst["target"].astype(str).to_numpy(),
        "origin": origin, "method": worst["method"].to_numpy(), "side": worst["side"].to_numpy(),
        "step": worst["step"].to_numpy(), "point": worst["point"].to_numpy(),
        "bound": np.where(worst["side"] == "above", worst["upper"], worst["lower"]),
        "ratio": worst["excess"].to_numpy()})
    dropped = pd.MultiIndex.from_frame(drops[["series", "target", "method"]])
    mine = pd.MultiIndex.from_arrays([points["series"].astype(str), points["target"].astype(str), points["method"]])
    return points[~mine.isin(dropped)].reset_index(drop=True), drops[columns]


def cap_upper_quantiles(rows: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, spec, quantiles: list[float],
                        settings: GuardSettings) -> pd.DataFrame:
    """``rows`` with every quantile above the median capped at the P90 envelope (never below the median).

    ``rows``: ``series, target, step`` [, ``stated_effect``] and one column per quantile
    (``tokenplan.forecasting.forecaster.quantile_columns``); ``spec`` gives season and freq.
    """
    from tokenplan.forecasting.forecaster import quantile_columns

    names = quantile_columns(quantiles)
    out = rows.copy()
    out[names] = capped_upper_values(rows[names].to_numpy(), rows, series, origin, spec, quantiles, settings)
    return out


def capped_summary(before: pd.DataFrame, after: pd.DataFrame, top: str) -> list[dict]:
    """Per ``series, target`` whose ``top`` quantile :func:`cap_upper_quantiles` lowered (``after``: its result on
    ``before``, row for row): how many buckets (``buckets`` of ``of``) and the largest ``before / after``
    (``ratio``), largest first. The report names them: a P90 held at the envelope is the guard's number, not the
    model's (a three-week-old key's output tokens sat at the cap, 4.5 times its history's highest day, unnamed)."""
    lowered = after[top].to_numpy(dtype=float) < before[top].to_numpy(dtype=float) - HALF_UNIT
    frame = pd.DataFrame({"series": before["series"].astype(str).to_numpy(),
                          "target": before["target"].astype(str).to_numpy(), "lowered": lowered,
                          "ratio": np.where(lowered, before[top].to_numpy(dtype=float)
                                            / np.maximum(after[top].to_numpy(dtype=float), 1e-9), 1.0)})
    grouped = frame.groupby(["series", "target"], sort=True)
    table = pd.DataFrame({"buckets": grouped["lowered"].sum(), "of": grouped.size(), "ratio": grouped["ratio"].max()})
    table = table[table["buckets"] > 0].sort_values("ratio", ascending=False).reset_index()
    return [{"series": r.series, "target": r.target, "buckets": int(r.buckets), "of": int(getattr(r, "of")),
             "ratio": float(r.ratio)} for r in table.itertuples()]


def capped_upper_values(values: np.ndarray, rows: pd.DataFrame, series: pd.DataFrame, origin: pd.Timestamp, spec,
                        quantiles: list[float], settings: GuardSettings) -> np.ndarray:
    """``values`` (rows x quantiles, of ``rows``: ``series, target, step`` [, ``stated_effect``]) with every
    quantile above the median capped at the P90 envelope, never below the median (``cap_upper_quantiles``)."""
    middle = int(np.argmin(np.abs(np.asarray(quantiles) - 0.5)))
    bounds = envelope_bounds(series, origin, rows, spec.season, spec.freq, settings)
    cap = np.fmax(bounds["upper_p90"], values[:, middle])
    out = values.copy()
    for i, q in enumerate(quantiles):
        if q > 0.5:
            out[:, i] = np.fmin(out[:, i], cap)
    return out


def concat_drops(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """The guard's drop tables (``guard_candidates``' second result, per fold or origin) as one.

    Empty tables are left out (pandas warns on concatenating them); ``empty`` when all are.
    """
    kept = [frame for frame in frames if len(frame)]
    return pd.concat(kept, ignore_index=True) if kept else empty
