"""Suspected outages: buckets far below the same phase of the seasons both before and after.

An outage, a partial export or a logging gap leaves buckets far below their usual
value. Read as demand, such a bucket drags the level of every method that reads the
days after it, and it widens every interval calibrated on a fold that contains it (on
Wikipedia's daily page views a 6-day drop to 15-45% of normal in June 2015 made one
fold's late-horizon errors 0.8 in log space, against 0.1-0.25 for the others). A
stated outage (the calendar's ``outage`` kind) is already a gap; this finds the ones
nobody stated and treats them the same way: ``y`` is missing for the forecast (the
history the report shows and the costs of past usage keep the recorded values), and
the report lists every one, so a planner can confirm it or turn the check off.

The rule, per series (on its requests, see below), on ``log1p(y)``:

- **Reference:** the *lowest* value at the same phase in up to ``neighbours`` seasons
  before and up to ``neighbours`` after (each side needs at least one). An outage is
  below every one of them. A step change (usage moved off a model) has low neighbours
  after it, and a normal hour of a bursty series (a batch job on half the nights) has
  normal neighbours among the bursts: neither is flagged (a median of the neighbours
  flagged 19 ordinary night hours of the demo's Haiku, hourly). The price: an outage
  longer than a season has a low neighbour and is not caught (state it in the
  calendar), unless it is a run of exact zeros (below). The last season of the history has
  no "after" and is not flagged, except a fall younger than a season at its very end:
  the last buckets, each below at least two seasons before it alone, fewer of them than
  a season. An export taken during the day ends with a partial day, and a forecast that
  starts from it starts low; an outage in progress or a collector behind leaves a few
  such days, and a method that reads the last days (MSTL, the lag model) carries them
  into the whole horizon: Wikipedia's R page views fell to 524, 139 and 91 on the last
  three days of a 400-day history (600-950 before, recovered within four days), and
  MSTL planned 90-160 a day for four weeks. With several series, only a fall the total
  of every series shares: a partial export or a collector behind lowers them all, while
  traffic moved to a successor model or a new key leaves the total where it was (a model
  adopted ten days before the end, the old one declining to a tenth, had been planned at
  the old one's level beside the new one's). A move is read as a level once it has held
  (``tokenplan.forecasting.level_shifts``: about a week and a half); until then the plan
  stays at the level before, whichever way the move goes, and the summary names the
  last days that run below the plan. A fall that has lasted a season is a step down,
  and is kept.
- **A run of zeros longer than a season** (a season of at least a week; zero in every
  target of the series), with usage before and after it, is compared
  with the seasons either side of the run instead (a key switched off for a month, a
  collector that wrote zeros): read as demand, a month of zeros in a busy series put
  the quarter's P90 cost at 46,000 times its P50 (a fold that held it calibrated the
  intervals, and the guard read the recovery as growth). A series that starts or ends
  with zeros (a launch, a retirement) is not a gap.
- **Flag:** the bucket is below the reference by more than ``-log(max_ratio)`` (half,
  by default) *and* by more than ``sigmas`` times the series' noise (the robust
  standard deviation of season-over-season log changes, as the intervals use) *and*
  by more than ``sigmas`` Poisson standard deviations (``sqrt(expected)``): in a sparse
  series (an hour that usually sees 3 requests) a zero is chance, not an outage.
- **Never flagged:** a bucket a calendar event covers, or a public holiday: the
  calendar explains those, and the holiday features learn them.
- **Which target:** requests where the series has them (a count, so the Poisson guard
  means something; token totals of a few night-time requests swing far more), else
  each target. A flagged bucket is missing for every target of its series: an outage
  stops requests and their tokens alike.

**Suspected bursts** are the mirror image, judged on whole days (``burst_ratio``; null:
not checked): a day whose total is more than ``burst_ratio`` times the total of *every*
same weekday in up to ``neighbours`` weeks before and after (each side needs one, and
none may be zero), and beyond ``sigmas`` times the noise of the days' totals and
``sigmas`` Poisson standard deviations; every bucket of that day is flagged. A runaway
script, a one-off evaluation or a backfill leaves such a day; read as demand, it is
repeated by every method that reads the same phase of the last season: a single day
at 100 times the usual, three days before the origin, put that weekday's P50 at 4-7
times its level for weeks and the quarter's P50 total 76% over the level before it
(the quarter's P50 was its P90). Why days, not buckets: an hour compared with the same
hour of other weeks flagged the late hours of a long busy afternoon on M4's hourly
series (a busy day that ran late, not a burst), and masked them alone. A recurring
burst (a weekly batch job) has high neighbours and is never flagged; nor is a step up
(a launch, a new customer), whose weeks after are as high, nor a sparse model's day of
use (its neighbours are zero). In the last week, which has no "after", a day needs two
weeks before it and the next day back under ``burst_ratio`` times its own weeks before
(a burst, not the first day of a new level); the history's last day is never flagged.
The table of flagged buckets (``kind``: outage or burst) and the treatment are the
outages': missing for the forecast, recorded for the history shown and the past costs,
listed in the report. If a burst will recur (a planned migration, an annual batch),
state it in the calendar.

On the real series in ``../shared/realdata`` this flags two hours in each Twitter
volume (2015-03-11 07:00-08:00, in all four at once: the collector's gap) and nine
days of Wikipedia (four of the June 2015 drop, and single days such as 59 views on
2011-12-23 against at least 1,018 either side); nothing in ELB, Taylor or the demo
(daily or hourly).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from tokenplan.forecasting.features import bucket_shares

__all__ = ["mask_outages", "outage_runs", "suspected_outages"]

_COLUMNS = ["series", "target", "ds", "y", "expected", "kind"]


def _same_phase(z: np.ndarray, season: int, neighbours: int, direction: int) -> np.ndarray:
    """``z`` at ``t + direction * k * season`` along its last axis for ``k = 1..neighbours``: one
    slice per ``k`` in front (NaN outside)."""
    n = z.shape[-1]
    shifted = np.full((neighbours, *z.shape), np.nan)
    for k in range(1, neighbours + 1):
        lag = k * season
        if lag >= n:
            break
        if direction < 0:
            shifted[k - 1, ..., lag:] = z[..., :n - lag]
        else:
            shifted[k - 1, ..., :n - lag] = z[..., lag:]
    return shifted


def _lowest(values: np.ndarray) -> np.ndarray:
    """Column-wise minimum over the finite values (NaN where there are none)."""
    finite = np.isfinite(values)
    out = np.min(np.where(finite, values, np.inf), axis=0)
    return np.where(finite.any(axis=0), out, np.nan)


def _highest(values: np.ndarray) -> np.ndarray:
    """Column-wise maximum over the finite values (NaN where there are none)."""
    return -_lowest(-values)


def _burst_reference(z: np.ndarray, season: int, neighbours: int, jump: float) -> np.ndarray:
    """The highest same-phase value of the seasons either side (NaN where either side has none or
    any is zero: a burst rises from usage).

    In the last season (no "after"), the highest of at least two seasons before, for a
    bucket whose next observed bucket is back under ``jump`` above its own seasons before
    (an isolated burst, not the first bucket of a higher level); never the last bucket.
    """
    before, after = _same_phase(z, season, neighbours, -1), _same_phase(z, season, neighbours, +1)
    has_before, has_after = np.isfinite(before), np.isfinite(after).any(axis=0)
    both = np.vstack([before, after])
    reference = _highest(both)
    reference[~has_before.any(axis=0) | ~has_after] = np.nan
    usual_before = _highest(before)
    observed = np.flatnonzero(np.isfinite(z))
    position, following = observed[:-1], observed[1:]
    with np.errstate(invalid="ignore"):
        isolated = (~has_after[position] & (has_before[:, position].sum(axis=0) >= 2)
                    & (z[following] <= usual_before[following] + jump))  # NaN usual: False
    reference[position[isolated]] = usual_before[position[isolated]]
    reference[~(_lowest(both) > 0)] = np.nan
    return reference


def _burst_days(observed: pd.Series, freq: str, burst_ratio: float, sigmas: float, neighbours: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per bucket of ``observed`` (complete grid): flagged as part of a burst day, and its expected
    value (the bucket scaled by the reference day's total over its day's)."""
    days = observed.resample("D").sum(min_count=1)
    if freq != "D":  # a day with a missing bucket (a partial last day) is not judged
        complete = observed.notna().resample("D").sum() == observed.resample("D").size().max()
        days = days.where(complete)
    z = np.log1p(days.to_numpy(dtype=float))
    jump = np.maximum(np.log(burst_ratio), sigmas * _noise(z, 7))
    high = np.expm1(_burst_reference(z, 7, neighbours, jump))
    totals = days.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        burst = (z > np.log1p(high) + jump) & (totals - high > sigmas * np.sqrt(high))
    day_of_bucket = days.index.get_indexer(observed.index.floor("D"))
    share = np.where(burst, high / np.where(totals > 0, totals, np.nan), np.nan)
    return burst[day_of_bucket], observed.to_numpy(dtype=float) * share[day_of_bucket]


def _young_fall(z: np.ndarray, season: int, neighbours: int, drop: float) -> list[int]:
    """Positions of a fall younger than a season at the end: the last observed buckets, each below the lowest of
    at least two seasons before it by ``drop``, fewer of them than a season (none if it has lasted a season)."""
    before = _same_phase(z, season, neighbours, -1)
    alone, enough = _lowest(before), np.isfinite(before).sum(axis=0) >= 2
    run = []
    for t in np.flatnonzero(np.isfinite(z))[::-1][:season]:
        if not (enough[t] and z[t] < alone[t] - drop):
            break
        run.append(t)
    return run if len(run) < season else []


def _reference(z: np.ndarray, season: int, neighbours: int, drop: float,
               everyone_fell: np.ndarray | None = None) -> np.ndarray:
    """The lowest same-phase value of the seasons either side (NaN where either side has none).

    The last observed buckets have no "after". A fall younger than a season at the end
    (``_young_fall``) that every series' total shares (``everyone_fell``, per bucket; None:
    this is the only series) gets the seasons before as its reference: a partial last day,
    an outage in progress or a collector behind lowers every series at once, and read as a
    level by every method that reads the last days it would set the whole horizon. A fall
    the total does not share is traffic that moved (a model replaced by its successor, a key
    rotated) and is kept, as is a fall that has lasted a season (a step down).
    """
    before, after = _same_phase(z, season, neighbours, -1), _same_phase(z, season, neighbours, +1)
    reference = _lowest(np.vstack([before, after]))
    reference[~np.isfinite(before).any(axis=0) | ~np.isfinite(after).any(axis=0)] = np.nan
    run = [t for t in _young_fall(z, season, neighbours, drop) if everyone_fell is None or everyone_fell[t]]
    reference[run] = _lowest(before)[run]
    return reference


def _zero_runs(y: np.ndarray, longer_than: int) -> list[tuple[int, int]]:
    """``(first, last)`` positions of each run of exact zeros longer than ``longer_than`` buckets with an
    observed bucket before and after it (a series that starts or ends at zero was launched or retired)."""
    zero = np.r_[False, y == 0, False].astype(int)
    edges = np.flatnonzero(np.diff(zero))
    runs = zip(edges[::2], edges[1::2] - 1, strict=True)
    observed = np.flatnonzero(np.isfinite(y) & (y != 0))
    if not len(observed):
        return []
    return [(a, b) for a, b in runs if b - a + 1 > longer_than and observed[0] < a and observed[-1] > b]


def _gap_reference(z: np.ndarray, y: np.ndarray, season: int, neighbours: int) -> np.ndarray:
    """For each bucket of a zero run of ``y`` (the series' total over its targets) longer than a season
    (``_zero_runs``), the lowest same-phase value of ``z`` in up to ``neighbours`` seasons before the run
    and after it (each side needs one); NaN elsewhere.

    The regular reference compares a bucket with the seasons next to it, which lie inside
    a gap longer than a season: a month of zeros in a busy series (a key switched off, a
    collector down) had zero neighbours and was read as demand, and a fold that held it
    made a quarter's P90 cost 46,000 times its P50.
    """
    reference = np.full(len(z), np.nan)
    runs = _zero_runs(y, season)
    if not runs:
        return reference
    inside = np.zeros(len(z), dtype=bool)
    for a, b in runs:
        inside[a:b + 1] = True
    usable = np.where(inside, np.nan, z)
    for a, b in runs:
        t = np.arange(a, b + 1)
        first_before = t - ((t - a) // season + 1) * season
        first_after = t + ((b - t) // season + 1) * season
        sides = []
        for first, direction in ((first_before, -1), (first_after, 1)):
            positions = first[None, :] + direction * season * np.arange(neighbours)[:, None]
            valid = (positions >= 0) & (positions < len(z))
            sides.append(np.where(valid, usable[np.clip(positions, 0, len(z) - 1)], np.nan))
        both_sides = np.isfinite(sides[0]).any(axis=0) & np.isfinite(sides[1]).any(axis=0)
        reference[t] = np.where(both_sides, _lowest(np.vstack(sides)), np.nan)
    return reference


def _total_fell(checked: pd.DataFrame, freq: str, season: int, neighbours: int, max_ratio: float,
                sigmas: float) -> pd.Series | None:
    """Per bucket, whether the total of every series (the rows the check reads) is in a young fall at the end
    (``_young_fall``); None with one series, which is its own total. Traffic moved from one model to its successor
    leaves the total where it was: the demo of a model adopted ten days before the end, the old one declining to
    a tenth, had the old one's last six days masked and planned at its old level beside the new one (1.49 times
    the history's level)."""
    if checked["series"].nunique() < 2:
        return None
    total = checked.groupby("ds")["y"].sum(min_count=1).sort_index()
    total = total.reindex(pd.date_range(total.index.min(), total.index.max(), freq=freq))
    z = np.log1p(total.to_numpy(dtype=float))
    drop = max(-np.log(max_ratio), sigmas * _noise(z, season))
    fell = np.zeros(len(z), dtype=bool)
    fell[_young_fall(z, season, neighbours, drop)] = True
    return pd.Series(fell, index=total.index)


def _noise(z: np.ndarray, season: int) -> float:
    """Robust std (``1.4826 x MAD``) of season-over-season changes (inf: too few).

    Not ``conformal.robust_spread``'s floor for sparse series: that floor moved a few
    M4 buckets in or out of the outage table and, through the tuning study every
    series shares, the M4 validation's mean MASE from 0.835 to 0.854; the Poisson guard
    already keeps a sparse series' zeros from being outages.
    """
    change = z[season:] - z[:-season] if len(z) > season else np.array([])
    change = change[np.isfinite(change)]
    return float(median_abs_deviation(change, scale="normal")) if len(change) >= 2 else np.inf


def _explained(times: pd.DatetimeIndex, freq: str, events: pd.DataFrame, holidays: set) -> np.ndarray:
    """Buckets a calendar event covers, or that fall on a public holiday."""
    covered = np.zeros(len(times), dtype=bool)
    if len(events):
        for _, share in bucket_shares(events, times, freq):
            covered |= share > 0
    if holidays:
        covered |= np.asarray(times.floor("D").isin(pd.DatetimeIndex(sorted(holidays))))
    return covered


def suspected_outages(series: pd.DataFrame, freq: str, season: int, events: pd.DataFrame, holidays: set,
                      params: dict[str, Any] | None) -> pd.DataFrame:
    """Flagged buckets ``series, target, ds, y, expected`` (see the module docstring); empty when off.

    ``series`` is the long ``series, target, ds, y`` table at ``freq``; ``season`` the
    layout's season in steps; ``events`` the forecast's calendar; ``holidays`` naive
    dates; ``params`` ``{max_ratio, sigmas, neighbours}`` or None (off).
    """
    if not params or season < 1:
        return pd.DataFrame(columns=_COLUMNS)
    max_ratio, sigmas, neighbours = float(params["max_ratio"]), float(params["sigmas"]), int(params["neighbours"])
    burst_ratio = params.get("burst_ratio")
    if not 0 < max_ratio < 1:
        raise ValueError(f"feature_engineering.outages.max_ratio must be between 0 and 1, got {max_ratio!r}")
    if burst_ratio is not None and not float(burst_ratio) > 1:
        raise ValueError(f"feature_engineering.outages.burst_ratio must be above 1 (or null: bursts not checked), "
                         f"got {burst_ratio!r}")
    if neighbours < 1 or not sigmas >= 0:
        raise ValueError("feature_engineering.outages needs neighbours >= 1 (seasons compared on each side) and "
                         f"sigmas >= 0, got neighbours={params['neighbours']!r}, sigmas={params['sigmas']!r}")
    frames = []
    checked = series.groupby("series", sort=False)["target"].transform(
        lambda targets: targets.isin(_detected_on(targets)))
    # Gaps of zeros only where the season is at least a week: with a daily season, a weekday-only
    # workload's weekends are runs of zeros longer than a season, and were masked as outages.
    week = pd.Timedelta(days=7) <= season * pd.to_timedelta(pd.tseries.frequencies.to_offset(freq))
    totals = series.groupby(["series", "ds"], sort=False, observed=True)["y"].sum(min_count=1) if week else None
    fell = _total_fell(series[checked.astype(bool)], freq, season, neighbours, max_ratio, sigmas)
    for (name, target), group in series[checked.astype(bool)].groupby(["series", "target"], sort=True):
        observed = group.set_index("ds")["y"].sort_index()
        observed = observed.reindex(pd.date_range(observed.index.min(), observed.index.max(), freq=freq))
        z = np.log1p(observed.to_numpy(dtype=float))
        drop = np.maximum(-np.log(max_ratio), sigmas * _noise(z, season))
        y = observed.to_numpy(dtype=float)
        # A gap is zero in every target of the series (caching switched off zeroes one target alone).
        every = totals.loc[name].reindex(observed.index).to_numpy(dtype=float) if week else None
        gap = _gap_reference(z, every, season, neighbours) if week else np.full(len(z), np.nan)
        shared = fell.reindex(observed.index, fill_value=False).to_numpy(bool) if fell is not None else None
        reference = np.where(np.isfinite(gap), gap, _reference(z, season, neighbours, drop, shared))
        expected = np.expm1(reference)
        explained = _explained(observed.index, freq, events, holidays)
        with np.errstate(invalid="ignore"):
            flagged = (z < reference - drop) & (expected - y > sigmas * np.sqrt(expected)) & ~explained
        frames.append(_flagged(name, target, observed.index, y, expected, flagged, "outage"))
        if burst_ratio is not None:
            burst, usual = _burst_days(observed, freq, float(burst_ratio), sigmas, neighbours)
            frames.append(_flagged(name, target, observed.index, y, usual, burst & ~explained, "burst"))
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(columns=_COLUMNS)
    # A series detected on several targets (no requests): a bucket any of them flags, once.
    return pd.concat(frames, ignore_index=True).sort_values(["series", "ds", "target"]).drop_duplicates(
        ["series", "ds"]).reset_index(drop=True)


def _flagged(name: str, target: str, index: pd.DatetimeIndex, y: np.ndarray, expected: np.ndarray,
             flagged: np.ndarray, kind: str) -> pd.DataFrame:
    return pd.DataFrame({"series": name, "target": target, "ds": index[flagged], "y": y[flagged],
                         "expected": expected[flagged], "kind": kind})


def _detected_on(targets: pd.Series) -> list[str]:
    """Of one series' targets: requests where it has them (a count: the Poisson guard means
    something, and token totals of a few night-time requests swing too widely); else all."""
    names = sorted(targets.astype(str).unique())
    return ["requests"] if "requests" in names else names


def mask_outages(series: pd.DataFrame, outages: pd.DataFrame) -> pd.DataFrame:
    """``series`` with ``y`` missing (NaN) for every target of a series at each of its flagged buckets."""
    if outages.empty:
        return series
    keys = ["series", "ds"]
    flagged = series[keys].merge(outages[keys].drop_duplicates().assign(_flag=True), on=keys, how="left")["_flag"]
    out = series.copy()
    out.loc[flagged.notna().to_numpy(), "y"] = np.nan
    return out


def outage_runs(outages: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Consecutive flagged buckets of a series and kind grouped into runs: ``series, kind,
    first, last, buckets, target, recorded, expected`` (``target``: the one detected on;
    recorded and expected summed over the run). A table without ``kind`` holds outages."""
    columns = ["series", "kind", "first", "last", "buckets", "target", "recorded", "expected"]
    if outages.empty:
        return pd.DataFrame(columns=columns)
    if "kind" not in outages:
        outages = outages.assign(kind="outage")
    step = pd.Timedelta(1, unit=freq.lower()).value
    rows = []
    for (name, kind), group in outages.sort_values("ds").groupby(["series", "kind"], sort=True):
        run = np.concatenate([[0], np.cumsum(np.diff(pd.DatetimeIndex(group["ds"]).asi8) != step)])
        for _, part in group.groupby(run):
            rows.append({"series": name, "kind": kind, "first": part["ds"].iloc[0], "last": part["ds"].iloc[-1],
                         "buckets": len(part), "target": ", ".join(sorted(part["target"].astype(str).unique())),
                         "recorded": float(part["y"].sum()), "expected": float(part["expected"].sum())})
    return pd.DataFrame(rows, columns=columns)
