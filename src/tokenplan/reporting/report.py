"""The quarterly plan as Markdown and HTML: every number in it comes from the run's tables.

The words and layout live in the Jinja2 template ``reporting/templates/report.md.j2``
(reword the report there, no Python needed); this module computes the tables it shows
and formats their numbers. The capacity and routes sections are rendered elsewhere
(``tokenplan.reporting.capacity_section`` / ``routes_section``) and arrive as Markdown
strings, empty when that stage did not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from tokenplan.forecasting.explanations import CORRECTION, FEATURE_LABELS, FORECAST, LEVEL, headline_target
from tokenplan.forecasting.features import FeatureSpec
from tokenplan.forecasting.outages import outage_runs
from tokenplan.forecasting.totals import SAME_WITHIN, totals_against_bucket_sums
from tokenplan.reporting.plots import TARGET_LABELS
from tokenplan.planning.prices import CACHE_WRITE_5M, UnitPrices
from tokenplan.reporting.data_notes import data_notes, missing_values, observed_days
from tokenplan.reporting.explained_series import not_explained, not_explained_text, planned_methods
from tokenplan.reporting.forecast_method_section import render_method_section
from tokenplan.reporting.long_context_mix import long_context_days, long_context_mix
from tokenplan.reporting.markdown import BUCKET_NAMES, markdown_table
from tokenplan.reporting.organisation_section import WIDE_COVERAGE
from tokenplan.reporting.number_format import chance, day_count, human, partial_month, percent, times, usd
from tokenplan.reporting.series_shown import only_shown
from tokenplan.reporting.summary import PlanSummary

_SMALL_EFFECT = 0.005  # a driver under 0.5% in every month is left out of the drivers table
_OVER_HORIZON = "over each series' horizon"  # the importance table's column: constant or varying

__all__ = ["ReportInputs", "ended_series", "events_in_horizon", "learned_growth", "planned_methods", "render_html",
           "render_report", "trend_window"]


@dataclass
class ReportInputs:
    """Everything the report states, gathered by the reporting node."""

    version: str
    history: pd.DataFrame          # target_series
    totals: pd.DataFrame           # forecast_totals
    costs: pd.DataFrame            # cost_forecast
    backtest: pd.DataFrame         # backtest_metrics
    importance: pd.DataFrame       # shap_importance
    events: pd.DataFrame           # forecast_events: the calendar plus the measured year-end holidays
    best_params: dict[str, Any]
    prices: dict[str, UnitPrices | None]  # None: the model has no price
    quantile_names: list[str]
    settings: dict[str, Any]       # freq, horizon, holiday country, trend, objective, price_data_date
    summary: PlanSummary
    drivers: pd.DataFrame | None = None          # forecast_drivers
    forecast_figures: list[str] = field(default_factory=lambda: ["forecast.png"])
    capacity_section: str = ""
    routes_section: str = ""
    organisation_section: str = ""
    layout: dict[str, Any] | None = None      # forecast_layout
    selection: dict[str, Any] | None = None   # model_selection
    ingestion: dict[str, Any] = field(default_factory=dict)  # usage_buckets.attrs
    outages: pd.DataFrame | None = None       # suspected_outages (None: the check was not run)
    guard_drops: pd.DataFrame | None = None   # candidates the plausibility guard dropped
    series_shown: dict[str, Any] | None = None  # largest_series: the series drawn and tabulated (None: all)
    run: dict[str, Any] | None = None         # run_record: the command that repeats the run, the versions
    forecast: pd.DataFrame | None = None      # forecast: the buckets' quantiles (attrs: the series ended)
    # The organisation's daily P10-P90 coverage in the hierarchy backtest (its series' quantiles added, as the totals
    # across models add them); None: no such backtest in this run.
    organisation_coverage: float | None = None


def _interval(row: pd.Series, names: list[str], fmt=human) -> str:
    return f"{fmt(row[names[len(names) // 2]])} ({fmt(row[names[0]])} – {fmt(row[names[-1]])})"


def _per_model(inputs: ReportInputs) -> pd.DataFrame:
    names = inputs.quantile_names
    horizon = only_shown(inputs.totals[inputs.totals["period"] == "horizon"], inputs.series_shown)
    cost = inputs.costs[inputs.costs["period"] == "horizon"].set_index("series")
    rows = []
    for series, group in _largest_first(horizon, inputs.series_shown).groupby("series", sort=False):
        by_target = group.set_index("target")
        row = {"model": series}
        for target in TARGET_LABELS:
            if target in by_target.index:
                row[TARGET_LABELS[target]] = _interval(by_target.loc[target], names)
        unpriced = "no price" if series in inputs.prices and inputs.prices[series] is None else "–"
        row["cost USD"] = _interval(cost.loc[series], names, usd) if series in cost.index else unpriced
        rows.append(row)
    table = pd.DataFrame(rows)
    # Series split by team or key (``model/team/key``) are no models: the column says so.
    return table.rename(columns={"model": _series_word(table["model"])}) if len(table) else table


def _series_word(series: pd.Series) -> str:
    """``model`` where every series is a model, else ``series`` (split by ``ingestion.series_dimensions``)."""
    return "series" if series.astype(str).str.contains("/").any() else "model"


def _largest_first(frame: pd.DataFrame, shown: dict[str, Any] | None, column: str = "series") -> pd.DataFrame:
    """``frame`` with the shown series largest first when some are left out, else by name (stable)."""
    if not shown or not shown.get("limited"):
        return frame.sort_values(column, kind="stable")
    rank = {s: i for i, s in enumerate(shown["series"])}
    return frame.sort_values(column, key=lambda c: c.astype(str).map(rank), kind="stable")


def _in_target_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by series, then targets in the order of ``TARGET_LABELS`` (requests first)."""
    order = {t: i for i, t in enumerate(TARGET_LABELS)}
    return frame.sort_values(["series", "target"], key=lambda c: c.map(order).fillna(99) if c.name == "target" else c,
                             kind="stable")


def _monthly(inputs: ReportInputs) -> pd.DataFrame:
    names = inputs.quantile_names
    months = _in_target_order(only_shown(inputs.totals[inputs.totals["period"] != "horizon"], inputs.series_shown))
    months = _largest_first(months, inputs.series_shown)
    table = months.assign(total=[_interval(r, names) for _, r in months.iterrows()],
                          target=months["target"].map(lambda t: TARGET_LABELS.get(t, t)))
    wide = table.pivot_table(index=["series", "target"], columns="period", values="total", aggfunc="first",
                             sort=False)
    spans = months.groupby("period", sort=False).agg(start=("start", "min"), end=("end", "max"))
    width = pd.Timedelta(pd.tseries.frequencies.to_offset(inputs.settings.get("freq", "D")))
    wide = wide.rename(columns={p: _month_label(p, r.start, r.end, width) for p, r in spans.iterrows()})
    return wide.reset_index().rename(columns={"series": "model", "target": "quantity"})


def _month_label(period: str, start: Any, end: Any, width: pd.Timedelta) -> str:
    """A month's column heading, with the days the horizon covers where it covers only part of it (as the routes'
    monthly table heads it): a total of the 4 days after a history that ends on the 26th read "2026-11" beside
    whole months ten times its size."""
    month = pd.Period(period, freq="M")
    first, last = (pd.Timestamp(t).tz_localize(None) if pd.Timestamp(t).tz else pd.Timestamp(t) for t in (start, end))
    days = (last + width - first) / pd.Timedelta(days=1)
    return period if days >= month.days_in_month - 1e-9 else partial_month(period, first, last, days,
                                                                            month.days_in_month)


def _drivers(inputs: ReportInputs, target: str) -> pd.DataFrame:
    """Per model and month of ``target``: the forecast, the level at the origin and each driver's effect."""
    drivers = inputs.drivers
    if drivers is None or drivers.empty:
        return pd.DataFrame()
    rows = only_shown(drivers[drivers["target"] == target], inputs.series_shown)
    if rows.empty:  # none of the series shown is forecast by the model the drivers explain
        return pd.DataFrame()
    effects = rows[~rows["kind"].isin(["total", "anchor"])]
    keep = effects.groupby("driver")["effect"].apply(lambda e: (e.abs() >= _SMALL_EFFECT).any())
    effects = effects[effects["driver"].isin(keep[keep].index)]
    wide = effects.pivot_table(index=["series", "period"], columns="driver", values="effect", sort=False)
    order = [d for d in effects["driver"].drop_duplicates()]
    # A driver that does not touch a month (an event outside it) is left blank, not "+0.0%".
    wide = wide[order].map(lambda v: percent(v, 1, signed=True) if abs(v) >= 0.0005 else "")
    volumes = rows[rows["kind"].isin(["total", "anchor"])].pivot_table(index=["series", "period"], columns="driver",
                                                                       values="volume", sort=False)
    volumes = volumes[[FORECAST, LEVEL]].map(human)
    table = volumes.join(wide).reset_index().rename(columns={"series": "model", "period": "month"})
    return table


def events_in_force(drivers: pd.DataFrame | None, target: str, shown: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
    """Per series (shown) and event in force since before the horizon, its mean effect on ``target``'s months:
    divided out of the level at the origin and multiplied back in (``forecast_drivers`` kinds ``... in force``)."""
    if drivers is None or drivers.empty:
        return []
    rows = only_shown(drivers[(drivers["target"] == target)
                              & drivers["kind"].astype(str).str.endswith(", in force")], shown)
    rows = rows[rows["effect"].abs() >= _SMALL_EFFECT]
    means = rows.groupby(["series", "driver", "kind"], sort=True)["effect"].mean()
    return [{"series": series, "driver": driver, "kind": kind, "effect": float(effect)}
            for (series, driver, kind), effect in means.items()]


def learned_growth(drivers: pd.DataFrame | None, target: str, shown: dict[str, Any] | None = None
                   ) -> dict[str, Any] | None:
    """What the trees' level and growth correction does to ``target``'s level in the first and last months of the
    horizon, lowest and highest over the series (shown): where the tuned trend anchor is flat, the growth the
    forecast carries is there (a correction of +3.5% in the first month and +23.0% by the last); None without it."""
    if drivers is None or drivers.empty:
        return None
    rows = only_shown(drivers[(drivers["target"] == target) & (drivers["driver"] == CORRECTION)], shown)
    rows = rows[np.isfinite(rows["effect"].astype(float))]
    if rows.empty:
        return None
    first, last = rows["period"].min(), rows["period"].max()
    at = {p: rows[rows["period"] == p].set_index("series")["effect"].astype(float) for p in (first, last)}
    # One series: the text names it (a review read a whole forecast's "-19.4% ... -25.6%" that was one key's).
    alone = str(rows["series"].iloc[0]) if rows["series"].nunique() == 1 else None
    return {"first": first, "last": last, "first_low": float(at[first].min()), "first_high": float(at[first].max()),
            "low": float(at[last].min()), "high": float(at[last].max()), "series": alone,
            "low_series": str(at[last].idxmin()), "high_series": str(at[last].idxmax())}


def trend_window(layout: dict[str, Any] | None, trend_weeks: int, history: pd.DataFrame | None = None
                 ) -> dict[str, Any]:
    """What the trend anchor's growth is read from at the forecast origin: the last ``trend_weeks`` seasons
    (``blocks``, each one ``unit``: a week, or a day where the history supports a daily season only), or, where the
    history holds fewer, all of it (``all``, its ``days``). A season at least half observed counts, as the anchor
    reads it (``features._block_means``): 54 days of hours hold 8 weekly seasons, not the 12 the text had said.

    ``history`` (``series, target, ds, y``): ``shorter`` names the series whose own observed days are fewer than the
    window (each one's ``series`` and ``days``, fewest first), as the anchor reads each series from its own history:
    a model added two weeks before the end of a file of 42 days had read "all 42 days of history"."""
    if not layout:
        return {"blocks": int(trend_weeks), "unit": "week", "all": False, "days": None, "weeks": int(trend_weeks),
                "shorter": []}
    season, steps = int(layout["season"]), int(layout["history_steps"])
    bucket = pd.Timedelta(pd.tseries.frequencies.to_offset(layout["freq"]))
    width = bucket * season
    unit = {pd.Timedelta(weeks=1): "week", pd.Timedelta(days=1): "day"}.get(width, f"{season}-bucket season")
    held = int(np.floor(steps / season + 0.5))
    days = round(steps * bucket / pd.Timedelta(days=1), 1)
    window = min(days, int(trend_weeks) * width / pd.Timedelta(days=1))
    shorter = []
    if history is not None and len(history):
        own = {str(series): observed_days(rows) for series, rows in history.groupby("series", sort=True, observed=True)}
        shorter = [{"series": series, "days": d} for series, d in sorted(own.items(), key=lambda kv: kv[1])
                   if d < window - 1]
    return {"blocks": min(int(trend_weeks), held), "unit": unit, "all": held < trend_weeks, "days": days,
            "weeks": int(trend_weeks), "shorter": shorter}


def _importance(inputs: ReportInputs) -> pd.DataFrame:
    """The ten most important features, each with what it is and, where ``shap_importance`` says so, whether it
    is constant over each series' horizon (and so places the series' level rather than moving its steps)."""
    top = inputs.importance.head(10).copy()
    top.insert(1, "what it is", top["feature"].map(lambda f: FEATURE_LABELS.get(f, "")))
    top["mean_abs_shap"] = top["mean_abs_shap"].map(lambda v: f"{v:.3f}")
    top["share"] = top["share"].map(lambda v: percent(v))
    if "constant" in top:
        top[_OVER_HORIZON] = top.pop("constant").map({True: "constant: sets the level", False: "varies"})
    return top


def _constant_features(importance: pd.DataFrame) -> list[str]:
    """The ten most important features that are constant over each series' horizon (``global_importance``)."""
    top = importance.head(10)
    return list(top.loc[top["constant"].astype(bool), "feature"]) if "constant" in top else []


def _after_model(inputs: ReportInputs, target: str) -> list[str]:
    """The drivers of what was done to ``target``'s forecast after the model that the drivers table shows."""
    drivers = inputs.drivers
    if drivers is None or drivers.empty or not target:
        return []
    rows = only_shown(drivers[(drivers["target"] == target) & (drivers["kind"] == "after the model")],
                      inputs.series_shown)
    moved = rows.groupby("driver", sort=False)["effect"].apply(lambda e: (e.abs() >= _SMALL_EFFECT).any())
    return list(moved[moved].index)


def _costs(inputs: ReportInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = inputs.quantile_names
    shown = getattr(inputs, "series_shown", None)
    costs = _largest_first(only_shown(inputs.costs, shown), shown)
    costs["cost USD, P50 (interval)"] = [_interval(r, names, usd) for _, r in costs.iterrows()]
    median = names[len(names) // 2]
    split = [c for c in costs.columns if c.startswith(f"{median}_")]
    for column in split:
        costs[column] = costs[column].map(usd)
    shown = costs[["series", "period", "buckets", "cost USD, P50 (interval)", *split]].rename(
        columns={"series": "model", **{c: f"{c.removeprefix(median + '_')} (P50)" for c in split}})
    priced = [p for p in inputs.prices.values() if p is not None]
    blended = any(CACHE_WRITE_5M in p.usd_per_mtok for p in priced)
    prices = pd.DataFrame([{"model": p.model, "provider": p.provider, "rates in force on": f"{p.date}",
                            "source": p.source, **{f"{k.removesuffix('_tokens')} $/MTok": f"{v:g}"
                                                   for k, v in _shown_rates(p, blended).items()}}
                           for p in priced]).fillna("–")
    return shown, prices


def _shown_rates(prices: UnitPrices, blended: bool) -> dict[str, float]:
    """The rates a model's price row shows. Where another model's cache-write rate blends its 5-minute and
    1-hour rates (so the table has a ``cache_write_5m`` column), a model writing only 5-minute entries shows
    its ``cache_write`` rate there too: a "–" beside its ``cache_write`` read as a rate it has not got."""
    rates = dict(prices.usd_per_mtok)
    if blended and "cache_write_tokens" in rates and CACHE_WRITE_5M not in rates and prices.cache_write_1h_share <= 0:
        rates[CACHE_WRITE_5M] = rates["cache_write_tokens"]
    return rates


def unpriced_models(prices: dict[str, UnitPrices | None]) -> list[str]:
    """Models with no price (neither genai-prices nor the price table): the report names them."""
    return sorted(m for m, p in prices.items() if p is None)


def cache_write_mix(prices: dict[str, UnitPrices | None]) -> list[dict[str, Any]]:
    """Models whose cache-write rate blends in 1-hour writes: the share and the days it was measured over."""
    return [{"model": p.model, "share": p.cache_write_1h_share, "days": p.cache_write_share_days}
            for p in prices.values() if p is not None and p.cache_write_1h_share > 0]


def events_in_horizon(events: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Events overlapping the horizon [first, last] (naive UTC days), each with a ``note``
    (planned, or in force since before the horizon) and the ``effect assumed`` for it.

    A stated effect is used as given. Otherwise a planned event is sized from past
    events of its kind that have no stated effect (sized events set no flag the model
    learns from), and the text says how many there were, or that there were none.
    """
    start, end = events["start"].dt.tz_convert(None), events["end"].dt.tz_convert(None)
    in_horizon = events[(start <= last + pd.Timedelta(days=1)) & (end > first)].copy()
    in_horizon["note"] = ["in force since before the horizon" if s < first else "planned"
                          for s in in_horizon["start"].dt.tz_convert(None)]
    past = events[start < first]
    unsized = past[past["effect"].isna()] if "effect" in past else past
    effect = in_horizon["effect"] if "effect" in in_horizon else pd.Series(np.nan, index=in_horizon.index)

    basis = in_horizon["basis"] if "basis" in in_horizon else pd.Series("", index=in_horizon.index)

    def assumed(e: float, kind: str, note: str, how: str) -> str:
        if pd.notna(e):
            return how if str(how).startswith("estimated") else f"x{e:.2f} (stated in the calendar)"
        if note != "planned":
            return "in the recent level already"
        if kind == "outage":
            return "none (gap in the data)"
        learned_from = int((unsized["kind"] == kind).sum())
        which = f"past {kind}(s)" + ("" if kind == "holiday" else " without a stated effect")
        return f"learned from {learned_from} {which}" if learned_from else f"none: no {which} to learn from"

    in_horizon["effect assumed"] = [assumed(e, kind, note, how) for e, kind, note, how
                                    in zip(effect, in_horizon["kind"], in_horizon["note"], basis, strict=True)]
    return in_horizon


def _events(inputs: ReportInputs) -> pd.DataFrame:
    first, last = pd.Timestamp(inputs.totals["start"].min()), pd.Timestamp(inputs.totals["end"].max())
    in_horizon = events_in_horizon(inputs.events, first, last)
    for column in ("start", "end"):
        in_horizon[column] = in_horizon[column].dt.strftime("%Y-%m-%d %H:%M UTC")
    return in_horizon[["start", "end", "name", "kind", "scope", "note", "effect assumed"]]


def _year_end(inputs: ReportInputs) -> list[str]:
    """One line per model whose year-end holidays the history measured (calendar_effects)."""
    events = inputs.events
    if "basis" not in events:
        return []
    measured = events[events["basis"].astype(str).str.startswith("estimated")]
    return [f"{scope or 'all models'}: {basis}" for scope, basis
            in measured[["scope", "basis"]].drop_duplicates().itertuples(index=False)]


def _outages(inputs: ReportInputs) -> pd.DataFrame | None:
    """Runs of suspected outages and bursts as a table (``tokenplan.forecasting.outages``); None if not checked."""
    if inputs.outages is None:
        return None
    runs = outage_runs(inputs.outages, inputs.settings["freq"])
    fmt = "%Y-%m-%d" if inputs.settings["freq"] == "D" else "%Y-%m-%d %H:%M"
    def with_unit(column: str) -> list[str]:
        return [f"{human(v)} {t}" for v, t in zip(runs[column], runs["target"], strict=True)]

    return pd.DataFrame({
        "series": runs["series"], "kind": runs["kind"], "first": pd.to_datetime(runs["first"]).dt.strftime(fmt),
        "last": pd.to_datetime(runs["last"]).dt.strftime(fmt), "buckets": runs["buckets"],
        "recorded": with_unit("recorded"),
        "expected (lowest at the same time, seasons either side; a burst: its usual day)": with_unit("expected")})


def _history_span(history: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """``first`` and ``last``: the buckets with a value (the summary's history); ``rows_first`` and ``rows_last``
    (else None) where the table's rows run further (incomplete buckets at its ends, treated as missing). A file of hours
    from 22:00 on its first day read "History: 2015-02-26 to 2015-04-22" here and "2015-02-27 to 2015-04-21"
    in the summary."""
    observed = history.loc[np.isfinite(history["y"].to_numpy(float)), "ds"]
    first, last = (observed.min(), observed.max()) if len(observed) else (history["ds"].min(), history["ds"].max())
    further = history["ds"].min() < first or history["ds"].max() > last
    return {"first": first, "last": last, "rows_first": history["ds"].min() if further else None,
            "rows_last": history["ds"].max() if further else None}


def _is_finite(value: Any) -> bool:
    """A number to print: not None, NaN, ``pd.NA`` (an empty nullable-integer cell) or infinite."""
    return value is not None and not pd.isna(value) and bool(np.isfinite(float(value)))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("tokenplan.reporting", "templates"),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True, autoescape=False)
    environment.filters.update(human=human, usd=usd, days=day_count, percent=percent, chance=chance, times=times,
                               table=markdown_table,
                               label=lambda t: TARGET_LABELS.get(t, t),
                               day=lambda t: f"{pd.Timestamp(t):%Y-%m-%d}",
                               month=lambda t: f"{pd.Timestamp(str(t)):%B %Y}",
                               finite=_is_finite)
    return environment


def _chosen_methods(selection: dict[str, Any] | None) -> str:
    """``mstl (3), ensemble (2)``: how many series/targets each chosen method forecasts."""
    counts = pd.Series(list((selection or {}).get("methods", {}).values()), dtype=str).value_counts()
    return ", ".join(f"{method} ({n})" for method, n in counts.items())


def shap_coverage(drivers: pd.DataFrame | None) -> dict[str, int] | None:
    """How many of the series-targets the tuned model forecasts SHAP explained (those with learned drivers), when
    it explained a sample of them (``explainability.max_rows``); None when it explained every one."""
    if drivers is None or drivers.empty:
        return None
    keys = drivers[["series", "target"]].astype(str).agg("|".join, axis=1)
    explained, forecast = keys[drivers["kind"] == "learned"].nunique(), keys.nunique()
    return {"explained": int(explained), "forecast": int(forecast)} if explained < forecast else None


def ended_series(forecast: pd.DataFrame | None) -> dict[str, str]:
    """Series the forecast leaves out as ended, with their last day of usage (``forecast.attrs["ended"]``)."""
    return dict((forecast.attrs.get("ended") or {}) if forecast is not None else {})


def _bucket_sums(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Per target, the horizon totals' median against the sum of ``forecast.csv``'s bucket medians, requests first
    (``totals_against_bucket_sums``); [] without the forecast."""
    if inputs.forecast is None or inputs.forecast.empty:
        return []
    names = inputs.quantile_names
    table = totals_against_bucket_sums(inputs.forecast, inputs.totals, names[len(names) // 2])
    order = {t: i for i, t in enumerate(TARGET_LABELS)}
    return table.sort_values("target", key=lambda c: c.map(order).fillna(99), kind="stable").to_dict("records")


def _keys(drivers: pd.DataFrame | None) -> int:
    """How many series-targets ``forecast_drivers`` breaks down (those the tuned model forecasts)."""
    return 0 if drivers is None or drivers.empty else len(drivers[["series", "target"]].drop_duplicates())


def render_report(inputs: ReportInputs) -> str:
    """The Markdown report (``reporting/templates/report.md.j2``); figures are referenced by file name."""
    s = inputs.settings
    history = inputs.history
    cost_table, price_table = _costs(inputs)
    driver_target = headline_target(inputs.drivers) if inputs.drivers is not None else ""
    events = _events(inputs)
    params = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in inputs.best_params.items()
              if k != "trend_losses"}
    names = inputs.quantile_names
    shown = inputs.series_shown if (inputs.series_shown or {}).get("limited") else None
    per_model = _per_model(inputs)
    ended = ended_series(inputs.forecast)
    unexplained = not_explained(inputs.selection, inputs.drivers, ended, inputs.forecast)
    return _environment().get_template("report.md.j2").render(
        version=inputs.version, summary=inputs.summary, q=names, median=names[len(names) // 2],
        nominal=(int(names[-1][1:]) - int(names[0][1:])) / 100,
        bucket_name=BUCKET_NAMES.get(s["freq"], s["freq"]), settings=s,
        per_model=per_model, per_word=per_model.columns[0] if len(per_model) else "model",
        monthly=_monthly(inputs), forecast_figures=inputs.forecast_figures,
        method_section=render_method_section(inputs.layout, inputs.selection, inputs.backtest, names,
                                             inputs.history, inputs.guard_drops, inputs.series_shown,
                                             planned_methods(inputs.forecast), ended,
                                             (inputs.forecast.attrs.get("capped") if inputs.forecast is not None
                                              else None)),
        shown=shown,
        unpriced=unpriced_models(inputs.prices), cache_write_mix=cache_write_mix(inputs.prices),
        long_context_mix=long_context_mix(inputs.prices), long_context_days=long_context_days(inputs.prices),
        data_notes=data_notes(inputs.ingestion), run=inputs.run,
        drivers=_drivers(inputs, driver_target) if driver_target else pd.DataFrame(), driver_target=driver_target,
        not_explained=not_explained_text(unexplained[unexplained["series"].isin(shown["series"])] if shown
                                         else unexplained) if driver_target else "",
        explained_keys=_keys(inputs.drivers), planned_keys=len(unexplained) + _keys(inputs.drivers),
        ended_series=ended, trend_window=trend_window(inputs.layout, s.get("trend_weeks", FeatureSpec.trend_weeks),
                                                   history),
        importance=_importance(inputs), constant_features=_constant_features(inputs.importance),
        after_model=_after_model(inputs, driver_target), shap_coverage=shap_coverage(inputs.drivers),
        costs=cost_table, prices=price_table, events=events,
        chosen_methods=_chosen_methods(inputs.selection),
        in_force=events_in_force(inputs.drivers, driver_target, inputs.series_shown) if driver_target else [],
        learned_growth=learned_growth(inputs.drivers, driver_target, inputs.series_shown) if driver_target else None,
        year_end=_year_end(inputs), outages=_outages(inputs),
        history={**_history_span(history), "series": history["series"].nunique(),
                 "targets": ", ".join(sorted(history["target"].unique())),
                 "missing": missing_values(history)},
        params={k: v for k, v in params.items() if k not in ("study_name", "n_trials", "tuned_on")},
        study=params.get("study_name"), trials=params.get("n_trials"), tuned_on=inputs.best_params.get("tuned_on"),
        capacity_section=inputs.capacity_section.strip(), routes_section=inputs.routes_section.strip(),
        organisation_section=inputs.organisation_section.strip(), bucket_sums=_bucket_sums(inputs),
        same_within=SAME_WITHIN, organisation_coverage=inputs.organisation_coverage, wide_coverage=WIDE_COVERAGE,
    )


_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
img { width: 100%; height: auto; display: block; margin: 0.5em 0; }
code { background: #f3f3f3; padding: 0 0.2em; }
blockquote { margin: 1em 0; padding: 0.4em 1em; background: #fff6e0; border-left: 4px solid #e0a800; }
"""


def render_html(markdown_text: str, images: dict[str, bytes]) -> str:
    """A self-contained HTML page of the Markdown report: each image referenced by file
    name is embedded as a base64 data URI, so the page opens alone in a browser."""
    import base64
    import html

    from markdown_it import MarkdownIt

    # html=False: names from the user's calendar are text, never markup.
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    for name, data in images.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        body = body.replace(f'src="{name}"', f'src="{uri}"')
    title = html.escape(markdown_text.splitlines()[0].lstrip("# ").strip())
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n"
            f"<style>{_HTML_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")
