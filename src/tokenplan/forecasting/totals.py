"""Intervals for period totals (months, the quarter), computed for the totals themselves.

Adding daily P10s does not give the P10 of a month: daily errors are correlated (a
level error persists for weeks), so the sum of quantiles misstates the total's spread.
Instead, for each forecast period covering steps ``a..b`` after the origin, we take the
backtest folds' realised log-ratio ``log(sum(y) / sum(p50))`` over the same steps, per
fold, series and target. The interval therefore reflects how wrong the model's totals
actually were out of sample at that distance from the origin.

There are few such ratios, and they are not independent: the token types of one
series in one fold move together. So rather than taking empirical quantiles of them
(which, from a handful of effective samples, badly understate the tails), the
log-ratio is treated as a normal prediction problem with ``n`` = the number of
(fold, series) pairs: quantile ``q`` of the next ratio is
``mean + t_q(n - 1) * sd * sqrt(1 + 1/n)``, Student's t for the uncertainty of a mean
and spread estimated from ``n`` values.

Each series' centre, per target, is the skew of its folds' totals: the mean log-ratio less
each fold's level error (its median bucket's error, ``_skews``), shrunk toward the pool's
mean for that target and then toward no correction by the folds' standard error
(``_supported``). A low-volume series' total of hourly medians sits below its mean in
every fold while a busy one's does not, and one pooled bias put a 2-requests-an-hour
model's weekly total 5-19% low and its busy neighbour's 6-9% high (three simulated
seeds; its own, shrunk: 1-17% low and 3-4% high). A fold's level error is not carried
into the centre, nor a skew within the folds' noise (a spike day in one fold of five):
taken whole, they put the demo's 15 quarter totals all above the realised ones and real
series' totals further from the realised than the plain sums of their P50s. One centre
serves every period of a series, so its months add up to its quarter.

Each series' spread is its own totals' spread shrunk toward
the pooled one (the pooled spread weighs as much as three folds of the series' own),
and never below the pooled one: a noisier series gets a wider interval, a quieter one keeps the pooled width
(letting it narrow too cost 4 of the demo's 15 quarter totals). Normalising the log-ratios
by each series' daily noise scale (as ``tokenplan.forecasting.conformal`` does for daily
intervals) was tried and measured worse: on the demo's realised quarter the totals
covered 10 of 15 instead of 15 of 15. A series' day-to-day noise says little about the
error of its quarter total, which comes from level and event-size errors (the steady
chat model with campaigns got a +-3% interval and missed); its own backtested totals
do, and one pooled spread gave every series the same relative width. The pool holds only the
series backtested in every fold over every step (``_pool``): a launched or retired series'
folds measure its launch or retirement, and pooled they set every other series' width. Such
a series keeps its own spread, and with one fold its miss there (``_own_miss``).

Past the backtested window a period's spread is extrapolated (``_period_scale``: the part
of it that the buckets' own noise explains averages out over the longer period, the rest
is a level error growing like a random walk). Inside the window or past it, a period's
total is bounded by its own daily quantiles: its P10 is at least the sum of its days'
P10s, its P90 at most the sum of their P90s. Those sums are the total's quantiles if every
day's error were one shared level error, the widest interval the daily forecast allows; a
total outside them says the days would all have to fall outside their own intervals at
once. The daily intervals past the window are themselves held to the widest error the
backtest saw (``tokenplan.forecasting.plausibility``). Unbounded, eight weeks of bursty
daily traffic forecast to the end of the next quarter (162 days from a 5-day backtested
window) gave a last month's P90 13.5 times its P50 and 8 times the sum of its days' P90s,
and a cost interval of $1,492 to $71,857 around $10,353. Inside the window the bound was
once left off (the totals' own backtested errors as evidence), but from three or four
folds a Student t quantile with two or three degrees of freedom is most of that
evidence: a week of bursty hourly mentions (Twitter AAPL, three folds) read a P90 three
times its P50 and 1.5 times its hours' summed P90s, above any week of its history. Bounded
(2026-12-06), the real-traffic week totals kept their P50s and their coverage (14 of 17
hourly windows inside P10-P90), their mean log width went from 0.83 to 0.73 and their mean
interval score (log scale) from 0.93 to 0.83; the demo's Sonnet totals narrowed by 3-6% at
each end, all 15 quarter totals still inside, and the mixed-volume benchmark did not move.
The median lies between the days' summed P10s and P90s too (its quantiles move with it): a
backtested bias may lift a total, but not past what every day at its own P90 would add up to.

A month is then widened, around its median, to at least the widest earlier whole month's
relative interval (``_no_narrower``), the days' sums notwithstanding: errors do not shrink
further out.

The horizon's quantiles are then held inside its months' summed quantiles
(``_horizon_within_month_sums``), so one table's rows add up.

A series whose totals the daily forecast cannot add up (a model used a few days a
month: its days' medians are mostly zero) stays out of the pool and gets its own bias
from its folds' summed totals (``_alike``, ``_summed_bias``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from tokenplan.forecasting.forecaster import quantile_columns

__all__ = ["SAME_WITHIN", "forecast_periods", "period_totals", "totals_against_bucket_sums"]


def forecast_periods(ds: pd.Series) -> pd.DataFrame:
    """Calendar months of the forecast and the whole horizon, with their step ranges."""
    days = pd.Series(pd.to_datetime(ds).sort_values().unique())
    month = days.dt.to_period("M").astype(str)
    rows = [{"period": m, "start": g.min(), "end": g.max(), "buckets": len(g)} for m, g in days.groupby(month)]
    rows.append({"period": "horizon", "start": days.min(), "end": days.max(), "buckets": len(days)})
    return pd.DataFrame(rows)


_PRIOR_FOLDS = 3  # how many folds' worth of weight the pooled spread has against a series' own
_FULL_MONTH = 0.9  # a month of at least 0.9 times the longest month's buckets is whole (February's 28 of 31 days)
_UNLIKE = np.log(10.0)  # a series whose backtested totals missed by more than 10x on average is not pooled


def _pool(ratios: pd.Series, backtest: pd.DataFrame, method: str) -> pd.Series:
    """The log-ratios the pooled centre and spread are read from: those of series backtested all along
    (``_there_all_along``) whose totals the daily forecast can add up (``_alike``).

    A launched or retired series' folds measure the launch or the retirement, not the forecast:
    a model migrated two weeks before the last fold's origin missed that fold's total by a
    factor of 2.2 and the retired one's last fold (one day) by 13, and pooled, they set every
    other series' first month to 2.5 times its P50 (the pooled spread is a floor). Such a series
    keeps its own spread, shrunk toward the pool, and moves no other series' totals. With fewer
    than two (fold, series) totals left, every series is pooled.
    """
    steady = ratios[ratios.index.get_level_values("series").isin(_there_all_along(backtest, method))]
    return _alike(steady if len(steady.index.droplevel("target").unique()) >= 2 else ratios)


def _there_all_along(backtest: pd.DataFrame, method: str) -> set[str]:
    """The series ``method`` was backtested on in every fold, from each fold's first step to its last."""
    rows = backtest[backtest["method"] == method]
    span = rows.groupby(["origin", "series"])["step"].agg(["min", "max"])
    fold = rows.groupby("origin")["step"].agg(["min", "max"]).reindex(span.index.get_level_values("origin"))
    covered = (span["min"].to_numpy() <= fold["min"].to_numpy()) & (span["max"].to_numpy() >= fold["max"].to_numpy())
    folds = pd.Series(covered, index=span.index).groupby(level="series").sum()
    return set(folds.index[folds == rows["origin"].nunique()])


def _alike(ratios: pd.Series) -> pd.Series:
    """The log-ratios the pool is made of: those of series whose totals the daily forecast can add up.

    A model used a few days a month has a daily P50 of zero on most days, so the sum of
    its days' medians is a small fraction of its total (its log-ratios were 3-6 where a
    steady model's were +-0.1). Its own bias corrects its total; pooled, it moved every
    other series' centre and spread: a steady model beside such a model got a quarter's
    P50 2.5 times the sum of its days' P50s, equal to its P90. A series whose mean
    log-ratio is beyond ``log(10)`` stays out of the pool (its own bias is not shrunk),
    unless no series is left in it.
    """
    means = ratios.groupby(level="series").transform("mean")
    alike = ratios[means.abs() <= _UNLIKE]
    return alike if len(alike.index.droplevel("target").unique()) >= 2 else ratios


def _noise_variances(model: pd.DataFrame, sums: pd.DataFrame, median: str) -> pd.Series:
    """Per ``origin, series, target``: the variance of the total's log-ratio that its buckets' own
    noise explains, ``sum((y - k * p50)^2) / sum(y)^2`` with ``k`` the fold's level error.

    Independent bucket noise adds up like this and averages out over a longer period; a
    level error does not. About one request a day, a 30-day fold's total of about 36 has
    a noise spread of 17% (Poisson) and nearly no level error: read as all level error and
    extrapolated like a random walk, a four-month total's P90 was 3.2 times its P50.
    ``sums``: the folds' totals of ``y`` and ``median`` per ``origin, series, target``.
    """
    keys = ["origin", "series", "target"]
    per_row = model.groupby(keys)[["y", median]].transform("sum")  # each row's fold totals
    residual = (model["y"] - per_row["y"] / per_row[median].clip(lower=1e-9) * model[median]) ** 2
    return residual.groupby([model[k] for k in keys]).sum() / sums["y"].clip(lower=1e-9) ** 2


def _fold_ratios(backtest: pd.DataFrame, first_step: int, last_step: int, median: str,
                 method: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """``method``'s backtest rows over the steps, their fold totals of ``y`` and ``median`` per
    ``origin, series, target``, and each fold total's log-ratio of realised to forecast."""
    model = backtest[(backtest["method"] == method) & backtest["step"].between(first_step, last_step)]
    sums = model.groupby(["origin", "series", "target"])[["y", median]].sum()
    return model, sums, np.log(sums["y"].clip(lower=1e-9) / sums[median].clip(lower=1e-9))


def _too_few(sums: pd.DataFrame) -> bool:
    """Fewer than two (fold, series) totals: nothing to measure a spread or a centre from."""
    return len(sums.index.droplevel("target").unique()) < 2


def _ratio_quantiles(backtest: pd.DataFrame, first_step: int, last_step: int, quantiles: list[float],
                     median: str, method: str) -> tuple[np.ndarray, float, dict[str, tuple]]:
    """The pooled quantiles' offsets of the log-ratio of realised to forecast totals over the steps
    (from its centre), the share of their variance that bucket noise explains
    (``_noise_variances``), and per ``series|target`` its offsets and noise share (the series'
    spread shrunk toward the pooled one, never below it)."""
    model, sums, ratios = _fold_ratios(backtest, first_step, last_step, median, method)
    if _too_few(sums):
        return np.zeros(len(quantiles)), 0.0, {}
    noise = _noise_variances(model, sums, median).reindex(ratios.index).fillna(0.0)
    pool = _pool(ratios, backtest, method)
    n = len(pool.index.droplevel("target").unique())
    pooled_var = _spread_around_targets(pool)
    pooled_noise = _share(float(noise.reindex(pool.index).mean()), pooled_var)
    t = student_t.ppf(quantiles, df=n - 1) * np.sqrt(1 + 1 / n)
    per_series = {}
    for series, own in ratios.groupby(level="series"):
        folds = own.index.get_level_values("origin").nunique()
        own_var = _spread_around_targets(own, default=_own_miss(own, pool, pooled_var))
        shrunk = (folds * own_var + _PRIOR_FOLDS * pooled_var) / (folds + _PRIOR_FOLDS)
        # Never narrower than the pooled spread: with a handful of folds a series' own
        # spread is often small by luck (on the demo, narrowing cost 4 of 15 quarter totals).
        variance = max(shrunk, pooled_var)
        share = _share(float(noise.loc[own.index].mean()), variance)
        for target in own.index.get_level_values("target").unique():
            per_series[f"{series}|{target}"] = (t * np.sqrt(variance), share)
    return t * np.sqrt(pooled_var), pooled_noise, per_series


def _centres(backtest: pd.DataFrame, window: int, median: str, method: str) -> tuple[float, dict[str, float]]:
    """The pooled centre of the totals' log-ratio over the backtested ``window`` and per ``series|target``
    its own: its skew shrunk toward the pool's for that target, then toward none (``_skews``,
    ``_supported``); a series outside the pool (``_alike``) its own summed bias."""
    model, sums, ratios = _fold_ratios(backtest, 1, window, median, method)
    if _too_few(sums):
        return 0.0, {}
    skews = _skews(model, ratios, median)
    pool = _pool(ratios, backtest, method)
    pool_skews = skews.reindex(pool.index)
    n = len(pool.index.droplevel("target").unique())
    # A kept skew must stand out of its own folds' skews' noise as well as of their totals' (``_supported``).
    skew_var = _within_variance(pool_skews, default=_spread_around_targets(pool_skews))
    within_var = _within_variance(pool, default=_spread_around_targets(pool))
    per_series = {}
    for series, own in ratios.groupby(level="series"):
        folds = own.index.get_level_values("origin").nunique()
        if abs(float(own.mean())) <= _UNLIKE:
            # The own skew shrunk toward the pool's (a sparse series' sum of hourly medians sits below
            # its total in every fold, a busy one's does not, and one pooled bias left the sparse
            # one's total low), per target, toward the pool's mean for that target. A model's
            # token totals may sit further below their sums of daily medians than its requests
            # do: on about a request a day, one bias per series put the requests' total at 2.3
            # times the sum of their days' P50s while their own folds showed 1.16.
            own_skews = skews.loc[own.index].groupby(level="target").mean()
            prior = pool_skews.groupby(level="target").mean().reindex(own_skews.index)
            prior = prior.fillna(float(pool_skews.mean()))
            centres = (folds * own_skews + _PRIOR_FOLDS * prior) / (folds + _PRIOR_FOLDS)
            own_noise = _spread_around_targets(own, default=within_var)
            noise_var = (folds * own_noise + _PRIOR_FOLDS * within_var) / (folds + _PRIOR_FOLDS)
            noise_var = max(noise_var, _spread_around_targets(skews.loc[own.index], default=0.0))
            centres = centres.map(lambda centre: _supported(centre, noise_var, folds))
        else:  # outside the pool: its own bias per target, as a ratio of its folds' summed totals
            centres = _summed_bias(sums.xs(series, level="series"), median)
        per_series.update({f"{series}|{target}": float(centre) for target, centre in centres.items()})
    return _supported(float(pool_skews.mean()), max(within_var, skew_var), n), per_series


def _skews(model: pd.DataFrame, ratios: pd.Series, median: str) -> pd.Series:
    """Per ``origin, series, target``: the fold total's log-ratio less the fold's level error, the median
    of its buckets' ``log1p(y) - log1p(p50)``.

    A fold's total misses its summed medians for two reasons. The forecast's level was off
    in that fold (its median bucket says by how much): noise, which the spread carries and
    the next window does not repeat. And the buckets' skew: a sparse series' hourly
    medians (0 or 1 on two requests an hour) or a spiky one's sum to less than its total
    even where the level is right; that is the series' own, and the next window shares it.
    Only the skew moves the centre. Centred on the folds' whole log-ratio, which carries
    the level errors too, the demo's 15 quarter totals all came out above the realised
    ones (by 6% on average) and real series' totals ran further from the realised than
    their plain sums of P50s did (see ``_supported``). At a few requests a bucket the
    ``log1p`` median reads a multiplicative level error as smaller than it is (1.2 against
    1.47 a day: 0.11 where the total says 0.2), and the rest counts as skew.
    """
    keys = [model[k] for k in ("origin", "series", "target")]
    level = (np.log1p(model["y"].clip(lower=0)) - np.log1p(model[median].clip(lower=0))).groupby(keys).median()
    return ratios - level.reindex(ratios.index).fillna(0.0)


def _within_variance(ratios: pd.Series, default: float) -> float:
    """The variance of log-ratios around each series' and target's own mean (one degree of freedom per
    series and target): the folds' noise, without the differences between series' biases that
    ``_spread_around_targets`` counts; ``default`` when no degree of freedom is left."""
    groups = ratios.groupby(level=["series", "target"])
    dof = len(ratios) - groups.ngroups
    return float(((ratios - groups.transform("mean")) ** 2).sum() / dof) if dof >= 1 else default


def _supported(centre: float, variance: float, folds: int) -> float:
    """``centre`` shrunk toward 0 by the standard error of the folds' total errors, ``sqrt(variance /
    folds)``: the positive-part James-Stein factor ``max(0, 1 - se^2 / centre^2)``. ``variance``: the
    series' fold-to-fold variance of its totals' log-ratios (level errors included), shrunk toward
    the pool's variance around each series' own mean (``_within_variance``).

    A skew the folds show beyond their own noise is kept (a sparse model's, in every fold);
    one within it is mostly a spike or a level error that did not cancel over a handful
    of folds, and moving a budget by it made the totals worse: on the real-traffic
    benchmark's windows the mean |log(P50 / realised)| of the week totals went 0.138
    (the folds' mean log-ratio) to 0.126, of 14-day histories' day totals 0.242 to
    0.183 (no correction at all: 0.118 and 0.177, but a sparse model's week then runs 14%
    low instead of 7%). The standard error of the skews alone (the level errors taken out)
    shrank less and read worse on those windows (0.203 on the 14-day histories); the
    spread around the pool's mean counts the differences between series' skews as noise
    (two series whose folds show 0.2 and 0 every time: the first one's cut from 0.15 to 0.12).
    Where a series' skews vary more than its totals (``_centres`` takes the larger of the two
    variances, the series' own skews' unshrunk, so one such series does not weaken every
    other series' skew), a skew is a fold's misread level, not the series' own: in a fold whose days
    went intermittent the median day is empty, its level error reads log1p(0) - log1p(100),
    and its skew +3.9 against the other folds' 0; shrunk by the totals' variance alone, the
    mean skew put the total's P50 on its days' summed P90.
    """
    if centre == 0 or folds < 1:
        return centre
    return centre * max(0.0, 1 - variance / (folds * centre ** 2))


def _spread_around_targets(ratios: pd.Series, default: float = np.nan) -> float:
    """The variance of log-ratios around their target's mean (each target has its own bias), with one
    degree of freedom per target; ``default`` (else the plain variance) when too few are left.

    Around one mean for all targets, a one-request-a-day model's spread held its token
    totals' bias (about 1.1 in log) against its requests' (0.2) as if it were error.
    """
    centred = ratios - ratios.groupby(level="target").transform("mean")
    dof = len(ratios) - ratios.index.get_level_values("target").nunique()
    if dof >= 1:
        return float((centred ** 2).sum() / dof)
    return default if np.isfinite(default) else float(ratios.var(ddof=1))


def _own_miss(own: pd.Series, pool: pd.Series, pooled_var: float) -> float:
    """A series' spread when its folds cannot measure one around its own means (one fold): outside the
    pool, its mean squared log-ratio around the pool's means per target; in it, ``pooled_var``
    (which holds its fold already).

    A model launched shortly before the last fold's origin has that fold alone, and its miss
    (a factor of 2.2 on a ramp-up) is the only evidence of how wrong its totals can be: given
    the pooled spread instead, it would be planned as tightly as a model used for a year.
    """
    if own.index.isin(pool.index).all():
        return pooled_var
    means = pool.groupby(level="target").mean()
    offsets = means.reindex(own.index.get_level_values("target")).fillna(float(pool.mean())).to_numpy()
    return float(((own.to_numpy() - offsets) ** 2).mean())


def _share(noise: float, variance: float) -> float:
    """The share of ``variance`` that ``noise`` explains, in 0..1 (0 when undefined)."""
    return float(np.clip(noise / variance, 0.0, 1.0)) if variance > 0 and np.isfinite(noise) else 0.0


def _summed_bias(sums: pd.DataFrame, median: str) -> pd.Series:
    """Per target, ``log(sum of realised totals / sum of forecast totals)`` over the folds.

    A series whose days' medians are mostly zero has folds whose forecast total is near
    zero: one such fold's log-ratio is unbounded, and the mean of logs was 12 times its
    history's total. Summed over the folds first, the ratio is that of its usage to its
    medians, as stable as the folds' usage.
    """
    folded = sums.groupby(level="target")[["y", median]].sum()
    return np.log(folded["y"].clip(lower=1e-9) / folded[median].clip(lower=1e-9))


def _period_scale(backtest: pd.DataFrame, first: int, last: int, quantiles: list[float], median: str,
                  method: str, window: int, level_floor: dict[str, float] | None = None,
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """As ``_ratio_quantiles`` (the offsets); a period past the backtested ``window`` is extrapolated.

    Its spread is that of the last backtested stretch of the same length (at most the
    window), split in two: the part its buckets' noise explains shrinks with the period's
    length over the stretch's (noise averages out over more buckets), the rest, a level
    error, grows with ``mid-step of the period / mid-step of that stretch`` (it
    accumulates like a random walk). The centre is not extrapolated (``_centres``).

    The level error's share is at least ``level_floor`` for the key's target (``__all__``
    for the pooled offsets): the level share the daily intervals past the window grow by
    (``tokenplan.forecasting.conformal.level_shares``). Read from the totals alone, the
    share is the fold totals' variance less what bucket noise explains, and with a
    handful of folds that difference is often nothing by luck: a 21-day Console export's
    Haiku had all its 3-day folds' spread explained by noise, so its quarter total was
    forecast with no level error at all, +-4% four months past the window, against +-7.5%
    for each of its months and 56% of its backtested days inside their P10-P90. A total
    past the window never assumes less level error than the days it adds up.
    """
    if last <= window:
        offsets, _, per_series = _ratio_quantiles(backtest, first, last, quantiles, median, method)
        return offsets, {k: v for k, (v, _) in per_series.items()}
    length = min(last - first + 1, window)
    a, b = window - length + 1, window
    offsets, noise, per_series = _ratio_quantiles(backtest, a, b, quantiles, median, method)
    walk = ((first + last) / 2) / ((a + b) / 2)
    averaged = length / (last - first + 1)

    floors = level_floor or {}

    def scale(share: float, target: str) -> float:
        share = min(share, 1.0 - floors.get(target, floors.get("__all__", 0.0)))
        return float(np.sqrt((1 - share) * walk + share * averaged))

    return offsets * scale(noise, "__all__"), {k: v * scale(share, k.rsplit("|", 1)[-1])
                                                for k, (v, share) in per_series.items()}


def _young_levels(forecast: pd.DataFrame, names: list[str], quantiles: list[float], window: int,
                  history_buckets: pd.Series | None) -> dict[str, float]:
    """Per ``series|target`` with ``history_buckets`` (observed buckets per ``series, target``): the standard
    error of its level from its short history, ``sigma / sqrt(buckets)``.

    ``sigma`` is its buckets' noise as its own forecast states it: the median, over its buckets in the
    backtested ``window`` (its intervals past it grow by a level share), of its outer quantiles' log ratio
    over their normal scores' gap (``log(P90 / P10) / 2.563``). Only a series without backtested totals
    of its own uses it (``period_totals``).
    """
    if history_buckets is None or history_buckets.empty:
        return {}
    gap = norm.ppf(quantiles[-1]) - norm.ppf(quantiles[0])
    rows = forecast[(forecast["step"] <= window) | (window < 1)]
    rows = rows[(rows[names[0]] > 0) & (rows[names[-1]] > rows[names[0]])]
    sigma = (np.log(rows[names[-1]] / rows[names[0]]) / gap).groupby([rows["series"], rows["target"]]).median()
    counts = history_buckets.reindex(sigma.index)
    known = counts.notna() & (counts > 0)
    return {f"{s}|{t}": float(v) for (s, t), v in (sigma[known] / np.sqrt(counts[known])).items()}


def _with_young_level(offsets: np.ndarray, level_se: float | None, quantiles: list[float]) -> np.ndarray:
    """The pooled offsets with a young series' level error added in root sum of squares (independent errors)."""
    if level_se is None:
        return offsets
    z = norm.ppf(quantiles)
    return np.sign(z) * np.sqrt(offsets ** 2 + (z * level_se) ** 2)


def period_totals(forecast: pd.DataFrame, backtest: pd.DataFrame, quantiles: list[float],
                  method: str = "xgboost", level_floor: dict[str, float] | None = None,
                  history_buckets: pd.Series | None = None) -> pd.DataFrame:
    """Totals per series, target and period with quantiles from backtested total errors of ``method``.

    Each series gets its own spread (its total errors' spread shrunk toward the pooled
    one and never below it, so noisier series get wider intervals without one fold's
    luck narrowing a width), per period, and one centre for every period (its skew over
    the whole backtested window), so its months' P50s add up to about its horizon's.
    Months beyond the backtest windows are extrapolated (``_period_scale``, with a level
    share of at least ``level_floor``'s per target), and a later month's interval is never
    relatively narrower than an earlier whole month's (``_no_narrower``). Only series
    backtested all along make up the pool (``_pool``). A series without backtested totals of its own (too
    young for a fold) takes the pooled spread and, added to it, its level's standard error from its
    ``history_buckets`` (observed buckets per ``series, target``; ``_young_levels``).
    """
    names = quantile_columns(quantiles)
    median = names[int(np.argmin(np.abs(np.array(quantiles) - 0.5)))]
    window = int(backtest.loc[backtest["method"] == method, "step"].max()) if len(backtest) else 0
    rows = []
    times = forecast["timestamp"].dt.tz_convert(None)  # UTC calendar months
    widest: dict[str, np.ndarray] = {}  # per series|target: the widest month so far, log quantile / median
    # One centre per series and target, from the whole backtested window, for every period:
    # a skew is the series' own, whatever the period, and centres read off each period's
    # steps alone (a month's shrunk to none, the next month's not) made the months' P50s add
    # up to 2.6% more than the quarter's.
    centre, centres = _centres(backtest, max(window, 1), median, method)
    periods = forecast_periods(times)
    young = _young_levels(forecast, names, quantiles, window, history_buckets)
    longest = int(periods.loc[periods["period"] != "horizon", "buckets"].max())
    for period in periods.itertuples():
        window_rows = forecast[(times >= period.start) & (times <= period.end)]
        first, last = int(window_rows["step"].min()), int(window_rows["step"].max())
        pooled, per_series = _period_scale(backtest, first, last, quantiles, median, method, max(window, 1),
                                           level_floor)
        daily_sums = window_rows.groupby(["series", "target"])[names].sum()
        sums = daily_sums[median]
        for (series, target), total in sums.items():
            key = f"{series}|{target}"
            offsets, series_bias = per_series.get(key), centres.get(key, centre)
            if offsets is None:
                offsets = _with_young_level(pooled, young.get(key), quantiles)
            values = total * np.exp(series_bias + offsets)
            summed = daily_sums.loc[(series, target)].to_numpy(float)
            values = _median_within_daily_sums(values, summed, quantiles)
            values = _within_daily_sums(values, summed, quantiles)
            if period.period != "horizon":
                values, ratios = _no_narrower(values, widest.get(key), quantiles)
                if period.buckets >= _FULL_MONTH * longest:  # a month the forecast starts partway into is noisier
                    widest[key] = ratios
            rows.append({"series": series, "target": target, "period": period.period,
                         "start": period.start, "end": period.end, "buckets": period.buckets,
                         **{n: float(v) for n, v in zip(names, values, strict=True)}})
    return _horizon_within_month_sums(pd.DataFrame(rows), names, quantiles)


def _no_narrower(values: np.ndarray, before: np.ndarray | None,
                 quantiles: list[float]) -> tuple[np.ndarray, np.ndarray | None]:
    """A month's quantiles widened, around its median, to at least ``before`` (the widest earlier month's
    log quantile-to-median ratios), and the ratios to carry on.

    Applied last, after each month is held inside its days' summed quantiles: a later month
    whose days are narrower than an earlier month's would otherwise read narrower (the months
    after a usage export's first read 1.14 times their P50 after a first month's 1.17); errors
    do not shrink further out.
    Only whole months set the width carried on: a few days' total is relatively noisier than a
    month's, so a forecast starting on the 28th would otherwise give every month a 3-day width.
    """
    middle = float(np.interp(0.5, quantiles, values))
    if middle <= 0 or not np.isfinite(values).all() or (values <= 0).any():
        return values, before
    ratios = np.log(values / middle)
    if before is not None:
        ratios = np.sign(ratios) * np.maximum(np.abs(ratios), np.abs(before))
    return middle * np.exp(ratios), ratios


def _horizon_within_month_sums(totals: pd.DataFrame, names: list[str], quantiles: list[float]) -> pd.DataFrame:
    """``totals`` with each horizon row's quantiles held inside its months' summed quantiles.

    Months whose errors move together add up to a quarter whose P10 is at least their P10s'
    sum and whose P90 at most their P90s' (equal where every month errs by the same
    factor). The horizon's spread is fitted for the horizon itself, so it could fall
    outside those sums: a 21-day Console export's Opus quarter read $23,588-$84,766 beside
    months whose P10s added up to $24,619 and P90s to $83,951, and a reviewer adding the
    months found the quarter's interval wider than all three months at their extremes.

    Its median is its months' medians added (its other quantiles move with it): one centre
    serves every period, but each period's median is held inside its own days' summed
    quantiles, and where that held a month and not the quarter (a series whose interval
    was wide), the months' P50s added up to 3% less than the quarter's.
    """
    if totals.empty:
        return totals
    is_horizon = (totals["period"] == "horizon").to_numpy()
    months = totals[~is_horizon].groupby(["series", "target"], sort=False)[names].sum()
    horizon = totals[is_horizon]
    sums = months.reindex(pd.MultiIndex.from_frame(horizon[["series", "target"]])).to_numpy(float)
    values = horizon[names].to_numpy(float)
    held = np.array([_within_daily_sums(_with_median(v, s, quantiles), s, quantiles) if np.isfinite(s).all() else v
                     for v, s in zip(values, sums, strict=True)]).reshape(values.shape)
    totals.loc[is_horizon, names] = held
    return totals


def _with_median(values: np.ndarray, sums: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """A total's quantiles moved together so that its median is the months' summed median."""
    middle, wanted = float(np.interp(0.5, quantiles, values)), float(np.interp(0.5, quantiles, sums))
    return values * (wanted / middle) if middle > 0 and wanted > 0 else values


def _median_within_daily_sums(values: np.ndarray, sums: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """A total's quantiles moved together so that its median lies between its days' summed lowest and
    highest quantiles: a median outside them would need every day outside its own interval at once."""
    middle = float(np.interp(0.5, quantiles, values))
    return values * (np.clip(middle, sums[0], sums[-1]) / middle) if middle > 0 else values


def _within_daily_sums(values: np.ndarray, sums: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """A total's quantiles held inside its days' summed quantiles: lower levels at least their sum, upper
    levels at most theirs (never across the total's own median)."""
    levels = np.asarray(quantiles)
    middle = float(np.interp(0.5, levels, values))
    lower = np.minimum(sums, middle)
    upper = np.maximum(sums, middle)
    return np.where(levels < 0.5, np.maximum(values, lower), np.where(levels > 0.5, np.minimum(values, upper), values))


SAME_WITHIN = 5e-4  # a total within 0.05% of its buckets' summed P50 reads as equal at the report's precision


def totals_against_bucket_sums(forecast: pd.DataFrame, totals: pd.DataFrame, median: str) -> pd.DataFrame:
    """Per target, the horizon totals' ``median`` against the sum of the buckets' ``median`` (``forecast``):
    ``summed``, ``total``, ``change`` (total / summed - 1), ``differ``, how many of ``series`` (the
    target's series) have a total more than 0.05% off their own sum, and ``largest_change``, the change of
    the series most off (the target's own change can round to nothing where one small series moves);
    the same order as ``totals``.

    A total is its buckets' summed median moved by its series' centre (``_centres``: where its
    backtest folds' totals fell against their summed medians, e.g. above them where bursty hours
    put each hour's median below its mean), so a reader adding up ``forecast.csv``'s P50s finds
    another number than the totals'; the report says which and by how much.
    """
    horizon = totals[totals["period"] == "horizon"]
    totals_by_key = horizon.groupby(["series", "target"], sort=False)[median].sum()
    sums_by_key = forecast.groupby(["series", "target"])[median].sum().reindex(totals_by_key.index).fillna(0.0)
    off = (totals_by_key - sums_by_key).abs() > SAME_WITHIN * sums_by_key.abs().clip(lower=1e-9)
    frame = pd.DataFrame({"summed": sums_by_key, "total": totals_by_key, "differ": off.astype(int),
                          "series": 1}).groupby(level="target", sort=False).sum()
    frame["change"] = frame["total"] / frame["summed"].where(frame["summed"] > 0) - 1
    each = (totals_by_key / sums_by_key.where(sums_by_key > 0) - 1).where(off)
    frame["largest_change"] = each.groupby(level="target", sort=False).agg(
        lambda c: c.loc[c.abs().idxmax()] if c.notna().any() else np.nan)
    return frame.reset_index()[["target", "summed", "total", "change", "differ", "series", "largest_change"]]
