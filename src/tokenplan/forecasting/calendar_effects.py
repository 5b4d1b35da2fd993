"""The year-end holidays, estimated from the history and applied like a stated event effect.

Business traffic drops between Christmas and New Year, for a week and more, not on the
two public holidays alone. A forecast made right after it (a Q1 plan, run in the first
days of January) anchors its level on the trough, and every method carries the low
level into the quarter: on the daily Wikipedia series of ``../shared/realdata`` the
origins of 2 January 2014 and 1 January 2015 had a P50 MASE of 3.4-4.2 and P10-P90
coverage of 24-41%, against 1.3-2.4 and 79-98% at the other origins of 2013-2015. Those
folds then widen every later forecast's intervals, which are calibrated on them.

So when the history holds a complete year-end, its size is measured and the period is
treated like an event with a stated effect (``tokenplan.forecasting.features``): divided
out of the history every method reads (the level, the seasonal naive, MSTL, the
features) and multiplied back in wherever a forecast covers it (a Q4 plan's December).

The estimate, per model: for each past year-end with enough observed days, the mean
``log1p`` of the daily totals over the period (``first`` to ``last``, default 24 Dec to
1 Jan) minus what the ``reference_days`` days before it and after it give for the same
weekdays (both sides weigh alike, so a trend cancels); the mean over years, and the
median over the model's series and targets. It is applied only when the days of the
period that are not public holidays (``holiday_country``, and holiday events in the
calendar) dip by ``min_z`` standard errors or more (from the reference days' spread,
allowing for days that wander together): Christmas Day and New Year's Day alone, which
the holiday features learn, must not read as a week-long dip. When it is applied, its
size is the whole period's, holidays included, so every method (not only the one that
reads holiday flags) sees the history without the trough. The report lists it beside
the planner's events, with its size and the number of year-ends.

Like a stated effect it is treated as known in advance: a backtest fold before a
year-end uses the size estimated from the whole history, later year-ends included,
which flatters those folds a little (the size, not the level, is what it knows).
"""

from __future__ import annotations

from typing import Any

import holidays as holidays_lib
import numpy as np
import pandas as pd

from tokenplan.forecasting.features import bucket_shares

__all__ = ["YEAR_END", "estimate_year_end", "known_holidays", "year_end_events"]

YEAR_END = "year-end holidays"


def _daily(series: pd.DataFrame, freq: str) -> pd.DataFrame:
    """``series, target, day, y``: daily totals (an hourly day missing an hour is NaN)."""
    frame = series.assign(day=pd.to_datetime(series["ds"]).dt.floor("D"))
    if freq == "D":
        return frame[["series", "target", "day", "y"]]
    per_day = 24
    grouped = frame.groupby(["series", "target", "day"])["y"]
    daily = grouped.sum(min_count=1).where(grouped.count() == per_day)
    return daily.reset_index()


def _present(values: np.ndarray) -> float:
    return np.count_nonzero(~np.isnan(values)) / len(values) if len(values) else np.nan


def _period(year: int, first: str, last: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the year-end period that starts in ``year`` (``MM-DD`` bounds)."""
    start = pd.Timestamp(f"{year}-{first}")
    end = pd.Timestamp(f"{year}-{last}")
    if end < start:
        end = pd.Timestamp(f"{year + 1}-{last}")
    return start, end


def _mean(values: np.ndarray) -> float:
    """pandas' ``Series.mean``, to the last bit: the sum with missing values as zero over the count."""
    present = ~np.isnan(values)
    return np.where(present, values, 0.0).sum() / np.float64(present.sum())


def _std(values: np.ndarray, ddof: int) -> float:
    """pandas' ``Series.std`` of values none missing, to the last bit."""
    count = np.float64(values.size)
    average = values.sum() / count
    return float(np.sqrt(((average - values) ** 2).sum() / (count - ddof)))


def _group_sums(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted keys, each one's sum and count: pandas' groupby sum (Kahan's compensated sum, in row
    order), to the last bit, without a grouping's overhead on a handful of values."""
    found = np.unique(keys)
    sums, counts = np.zeros(len(found)), np.zeros(len(found), dtype=np.int64)
    compensation = np.zeros(len(found))
    for key, value in zip(np.searchsorted(found, keys).tolist(), values.tolist(), strict=True):
        counts[key] += 1
        y = value - compensation[key]
        t = sums[key] + y
        compensation[key] = t - sums[key] - y
        if compensation[key] != compensation[key]:  # an infinite value
            compensation[key] = 0.0
        sums[key] = t
    return found, sums, counts


def _against_reference(window: np.ndarray, before: np.ndarray, after: np.ndarray, days: np.ndarray,
                       reference_days: int) -> tuple[float, float]:
    """Mean log deviation of the period's days from the reference, and its standard error.

    ``window``, ``before`` and ``after`` are consecutive days' values (missing as NaN);
    ``days``, the day numbers (days since 1970-01-01) of ``window``'s, ``before`` ends the
    day before and ``after`` starts the day after. Each side's trend cancels by weighing
    both sides alike; the weekday profile of the reference is taken out day by day (a
    nine-day period holds two or three weekend days, which would otherwise read as part of
    the effect), when every weekday is in it. The arithmetic is pandas' on the same days
    (numpy here: thousands of models at scale).
    """
    before_mean, after_mean = _mean(before), _mean(after)
    centre = (before_mean + after_mean) / 2
    side_days = np.concatenate([np.arange(days[0] - reference_days, days[0]),
                                np.arange(days[-1] + 1, days[-1] + 1 + reference_days)])
    reference = np.concatenate([before - before_mean, after - after_mean])
    kept = ~np.isnan(reference)
    reference, reference_days_kept = reference[kept], side_days[kept]
    weekday_of = lambda d: (d + 3) % 7  # noqa: E731  (1970-01-01 was a Thursday; Monday is 0)
    observed = weekday_of(days[~np.isnan(window)])
    weekdays, sums, counts = _group_sums(reference, weekday_of(reference_days_kept))
    if len(weekdays) < 7:
        spread = _std(reference, ddof=2)
        return float(_mean(window) - centre), spread * np.sqrt(1 / len(observed) + 1 / len(reference))
    profile = sums / counts  # indexed by weekday, all seven present
    expected = centre + profile[weekday_of(days)]
    residual = reference - profile[weekday_of(reference_days_kept)]
    spread = float(np.sqrt(np.sum(residual**2) / max(len(residual) - 8, 1)))  # 7 weekday means, 2 sides
    # The period's mean error plus that of the weekday means it is compared with.
    shown, weights, _ = _group_sums(np.full(len(observed), 1 / len(observed)), observed)
    error = spread * float(np.sqrt(1 / len(observed) + np.sum(weights**2 / counts[shown])))
    return float(_mean(window - expected)), error * _persistence(residual, reference_days_kept)


def _persistence(residual: np.ndarray, days: np.ndarray) -> float:
    """How much a mean of consecutive days varies beyond independent noise: ``sqrt((1 + r) / (1 - r))``
    for the lag-1 autocorrelation ``r`` of the daily residuals (an AR(1) approximation), ``days`` their
    day numbers, ascending.

    Usage wanders for days at a time (a busy week, a quiet one), so nine consecutive days
    are not nine independent draws: on the daily Wikipedia series (r about 0.3) the
    standard error grows by a third.
    """
    daily = np.full(int(days[-1] - days[0]) + 1, np.nan)
    daily[days - days[0]] = residual
    now, before = daily[1:], daily[:-1]
    pair = ~np.isnan(now) & ~np.isnan(before)
    now, before = now[pair], before[pair]
    if len(now) < 5 or _std(now, ddof=1) == 0 or _std(before, ddof=1) == 0:
        return 1.0
    r = float(np.clip(np.corrcoef(now, before)[0, 1], 0.0, 0.8))
    return float(np.sqrt((1 + r) / (1 - r)))


def _pooled(effects: list[float], errors: list[float]) -> tuple[float, float]:
    """The mean of several periods' effects and its standard error: from their own errors, or
    from their spread where three or more disagree by more than those errors say."""
    effect = float(np.mean(effects))
    error = float(np.sqrt(np.sum(np.square(errors))) / len(errors))
    if len(effects) >= 3:
        error = max(error, float(np.std(effects, ddof=1) / np.sqrt(len(effects))))
    return effect, error


def known_holidays(country: str | None, events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> set:
    """Days (naive dates) the features already flag as holidays: the country's public holidays
    and the calendar's holiday events without a stated effect."""
    days = set()
    if country:
        days |= {pd.Timestamp(d) for d in holidays_lib.country_holidays(country, years=range(start.year, end.year + 1))}
    holidays = events[events["kind"] == "holiday"] if "kind" in events else events.iloc[:0]
    if "effect" in holidays:
        holidays = holidays[holidays["effect"].isna()]
    calendar = pd.date_range(start.floor("D"), end.floor("D"), freq="D")
    for _, share in bucket_shares(holidays, calendar, "D"):  # the days the features see it cover
        days |= set(calendar[share > 0])
    return days


def _measure(daily: pd.DataFrame, first: str, last: str, reference_days: int) -> pd.DataFrame:
    """Per model: ``scope, log_effect, std_error, years, z`` over the daily totals given."""
    rows = []
    frame = daily.assign(number=pd.to_datetime(daily["day"]).to_numpy().astype("datetime64[D]").astype(np.int64))
    frame = frame.sort_values(["series", "target", "number"], kind="stable")
    for (name, target), group in frame.groupby(["series", "target"], sort=True):
        numbers = group["number"].to_numpy()
        values = np.log1p(group["y"].to_numpy(float))
        low, high = pd.Timestamp(int(numbers[0]), unit="D"), pd.Timestamp(int(numbers[-1]), unit="D")
        years = range(low.year - 1, high.year + 1)
        periods = [tuple(int(d.value // 86_400_000_000_000) for d in _period(year, first, last)) for year in years]
        base = min(p[0] for p in periods) - reference_days
        dense = np.full(max(max(p[1] for p in periods) + reference_days, int(numbers[-1])) - base + 1, np.nan)
        dense[numbers - base] = values
        effects, errors = [], []
        for start, end in periods:
            window = dense[start - base:end - base + 1]
            before = dense[start - reference_days - base:start - base]
            after = dense[end + 1 - base:end + 1 + reference_days - base]
            if min(_present(window), _present(before), _present(after)) < 0.5:
                continue
            effect, error = _against_reference(window, before, after, np.arange(start, end + 1), reference_days)
            effects.append(effect)
            errors.append(error)
        if effects:
            effect, error = _pooled(effects, errors)
            rows.append({"scope": str(name).split("/")[0], "log_effect": effect, "std_error": error,
                         "years": len(effects)})
    if not rows:
        return pd.DataFrame(columns=["scope", "log_effect", "std_error", "years", "z"])
    out = pd.DataFrame(rows).groupby("scope").agg(log_effect=("log_effect", "median"),
                                                  std_error=("std_error", "median"),
                                                  years=("years", "max")).reset_index()
    out["z"] = out["log_effect"].abs() / out["std_error"].clip(lower=1e-9)
    return out


def estimate_year_end(series: pd.DataFrame, freq: str, first: str = "12-24", last: str = "01-01",
                      reference_days: int = 14, exclude: set | None = None) -> pd.DataFrame:
    """One row per model: ``scope, log_effect, std_error, years, period_effect, z``.

    ``log_effect`` is the size over every day of the period, the one applied.
    ``period_effect`` and its ``z`` come from the days not in ``exclude`` (the public
    holidays the features flag): whether the period dips beyond Christmas Day and New
    Year's Day decides whether it is applied, since those two alone must not read as a
    week-long dip. A year-end counts when at least half its days and half of each
    reference side are observed; a model with none is left out.
    """
    daily = _daily(series, freq)
    whole = _measure(daily, first, last, reference_days)
    if whole.empty or not exclude:
        return whole.assign(period_effect=whole["log_effect"])
    outside = daily.assign(y=daily["y"].where(~pd.to_datetime(daily["day"]).isin(list(exclude))))
    between = _measure(outside, first, last, reference_days)[["scope", "log_effect", "z"]]
    out = whole.drop(columns="z").merge(between.rename(columns={"log_effect": "period_effect"}), on="scope",
                                         how="left")
    return out.fillna({"z": 0.0})


def _stated_over_year_ends(stated: pd.DataFrame | None, scope: str, first: str, last: str) -> bool:
    """Whether a planner-stated event for ``scope`` (or every model) is about a year-end: it
    covers at least half of one and lasts at most four times as long (a shutdown over the
    holidays, not a launch whose lasting effect runs through December)."""
    if stated is None or stated.empty:
        return False
    mine = stated[stated["scope"].fillna("").isin(["", scope])]
    for event in mine.itertuples():
        begin, end = pd.Timestamp(event.start).tz_convert(None), pd.Timestamp(event.end).tz_convert(None)
        for year in range(begin.year - 1, end.year + 1):
            period_start, period_end = _period(year, first, last)
            length = period_end + pd.Timedelta(days=1) - period_start
            overlap = min(end, period_end + pd.Timedelta(days=1)) - max(begin, period_start)
            if overlap >= length / 2 and end - begin <= 4 * length:
                return True
    return False


def year_end_events(series: pd.DataFrame, freq: str, until: pd.Timestamp, params: dict[str, Any] | None,
                    exclude: set | None = None, stated: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (events-calendar columns plus ``basis``) for every year-end from the history's
    start to ``until``, per model whose estimated effect stands out, and the estimates
    (with ``applied`` and, where it is not, ``why``).

    ``params`` (``feature_engineering.year_end``): ``first``, ``last`` (``MM-DD``),
    ``reference_days`` and ``min_z``; None or ``enabled: false`` turns it off. ``exclude``:
    see ``estimate_year_end``. ``stated``: the calendar's events with a stated effect; a
    model with one over any year-end gets none measured (the planner's size is used, and
    the dip would count twice).
    """
    columns = ["start", "end", "name", "kind", "scope", "effect", "basis"]
    empty = pd.DataFrame(columns=columns)
    if params is None or not params.get("enabled", True):
        return empty, estimate_year_end(series.iloc[:0], freq)
    first, last = params.get("first", "12-24"), params.get("last", "01-01")
    for key, value in (("first", first), ("last", last)):
        try:
            pd.Timestamp(f"2001-{value}")
        except ValueError:
            raise ValueError(f"feature_engineering.year_end.{key} must be a month and day as MM-DD "
                             f"(e.g. 12-24), got {value!r}") from None
    estimates = estimate_year_end(series, freq, first, last, params.get("reference_days", 14), exclude)
    covered = [_stated_over_year_ends(stated, scope, first, last) for scope in estimates["scope"]]
    estimates["applied"] = (estimates["z"] >= params.get("min_z", 2.0)) & ~np.asarray(covered, dtype=bool)
    estimates["why"] = np.where(covered, "the calendar states an effect over a year-end",
                                np.where(estimates["applied"], "", "within the noise"))
    start = pd.Timestamp(series["ds"].min())
    events = []
    for row in estimates[estimates["applied"]].itertuples():
        basis = (f"estimated from {row.years} past year-end(s): x{np.exp(row.log_effect):.2f} "
                 f"(x{np.exp(row.period_effect):.2f} on the days that are not public holidays, "
                 f"{row.z:.1f} standard errors from none)")
        for year in range(start.year - 1, pd.Timestamp(until).year + 1):
            begin, end = _period(year, first, last)
            if end < start.normalize() or begin > until:
                continue
            events.append({"start": begin.tz_localize("UTC"), "end": (end + pd.Timedelta(days=1)).tz_localize("UTC"),
                           "name": YEAR_END, "kind": "holiday", "scope": row.scope,
                           "effect": float(np.exp(row.log_effect)), "basis": basis})
    return (pd.DataFrame(events, columns=columns) if events else empty), estimates
