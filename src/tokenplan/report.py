"""The quarterly plan as Markdown: every number in it comes from the run's tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.pricing import UnitPrices

_BUCKET_NAMES = {"D": "daily", "h": "hourly", "H": "hourly"}

__all__ = ["ReportInputs", "render_report"]


@dataclass
class ReportInputs:
    """Everything the report states, gathered by the reporting node."""

    version: str
    history: pd.DataFrame          # target_series
    totals: pd.DataFrame           # forecast_totals
    costs: pd.DataFrame            # cost_forecast
    backtest: pd.DataFrame         # backtest_metrics
    importance: pd.DataFrame       # shap_importance
    events: pd.DataFrame           # events_calendar
    best_params: dict[str, Any]
    prices: dict[str, UnitPrices]
    quantile_names: list[str]
    settings: dict[str, Any]       # freq, horizon, holiday country, trend, objective
    capacity: str = ""             # tokenplan.reporting.capacity_section.render_capacity_section


def _number(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:,.2f}{suffix}"
    return f"{value:,.0f}"


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _interval(row: pd.Series, names: list[str], fmt=_number) -> str:
    return f"{fmt(row[names[len(names) // 2]])} ({fmt(row[names[0]])} – {fmt(row[names[-1]])})"


def _summary(inputs: ReportInputs) -> str:
    names = inputs.quantile_names
    horizon = inputs.totals[inputs.totals["period"] == "horizon"]
    cost = inputs.costs[inputs.costs["period"] == "horizon"].set_index("series")
    rows = []
    for series, group in horizon.groupby("series"):
        by_target = group.set_index("target")
        tokens = by_target.drop(index="requests", errors="ignore")
        row = {"model": series}
        if "requests" in by_target.index:
            row["requests"] = _interval(by_target.loc["requests"], names)
        row["tokens, all types (P50)"] = _number(tokens[names[len(names) // 2]].sum())
        if series in cost.index:
            row["cost USD"] = _interval(cost.loc[series], names, _usd)
        rows.append(row)
    first, last = horizon["start"].min(), horizon["end"].max()
    return (f"Forecast horizon: **{pd.Timestamp(first):%Y-%m-%d} to {pd.Timestamp(last):%Y-%m-%d}** "
            f"({inputs.settings['horizon']} {_BUCKET_NAMES.get(inputs.settings['freq'], inputs.settings['freq'])} "
            "buckets, UTC). "
            f"Figures are P50 with the {names[0].upper()}–{names[-1].upper()} interval of the total.\n\n"
            + _table(pd.DataFrame(rows)))


def _monthly(inputs: ReportInputs) -> str:
    names = inputs.quantile_names
    months = inputs.totals[inputs.totals["period"] != "horizon"]
    table = months.assign(total=[_interval(r, names) for _, r in months.iterrows()])
    wide = table.pivot_table(index=["series", "target"], columns="period", values="total", aggfunc="first")
    return _table(wide.reset_index())


def _backtest(inputs: ReportInputs) -> str:
    metrics = inputs.backtest
    pooled = metrics[metrics["series"] == "all"].copy()
    shown = pooled[["target", "method", "mase", "wape", "pinball", "coverage", "winkler", "n"]].copy()
    for column in ("mase", "wape", "pinball", "winkler"):
        shown[column] = shown[column].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    shown["coverage"] = shown["coverage"].map(lambda v: f"{v:.0%}" if np.isfinite(v) else "–")
    per_series = metrics[metrics["series"] != "all"].pivot_table(index=["series", "target"], columns="method",
                                                                 values="mase")
    baselines = [c for c in per_series.columns if c != "xgboost"]
    best_baseline = per_series[baselines].min(axis=1)
    winner = per_series[baselines].idxmin(axis=1)
    losses = per_series[per_series["xgboost"] >= best_baseline]
    verdict = ("The tuned model beats every baseline on every series and target (MASE)." if losses.empty else
               f"**A baseline wins on {len(losses)} of {len(per_series)} series/targets:** " + "; ".join(
                   f"{s} {t} (xgboost MASE {row['xgboost']:.2f} vs {winner.loc[(s, t)]} "
                   f"{best_baseline.loc[(s, t)]:.2f})" for (s, t), row in losses.iterrows()) + ".")
    order = {"xgboost": 0}
    shown = shown.sort_values(["target", "method"], key=lambda c: c.map(order).fillna(1) if c.name == "method" else c)
    nominal = inputs.quantile_names[-1].upper(), inputs.quantile_names[0].upper()
    return (_table(shown) + "\n\n" + verdict + "\n\n"
            f"MASE and WAPE score the P50; pinball (mean over quantile levels) and Winkler "
            f"({nominal[1]}–{nominal[0]}) are divided by the mean actual so series of different size compare; "
            f"coverage is the share of actuals inside {nominal[1]}–{nominal[0]} (nominal "
            f"{_nominal(inputs.quantile_names):.0%}), each fold's interval calibrated on the other folds only. "
            f"The seasonal naive is a point forecast: it has no interval; MSTL's interval is its own "
            f"model-based interval (statsforecast), not conformally calibrated.")


def _nominal(names: list[str]) -> float:
    return (int(names[-1][1:]) - int(names[0][1:])) / 100


def _shap(inputs: ReportInputs) -> str:
    top = inputs.importance.head(10).copy()
    top["mean_abs_shap"] = top["mean_abs_shap"].map(lambda v: f"{v:.3f}")
    top["share"] = top["share"].map(lambda v: f"{v:.0%}")
    return _table(top)


def _costs(inputs: ReportInputs) -> str:
    names = inputs.quantile_names
    costs = inputs.costs.copy()
    costs["cost USD"] = [_interval(r, names, _usd) for _, r in costs.iterrows()]
    split = [c for c in costs.columns if c.startswith(f"{names[len(names) // 2]}_")]
    for column in split:
        costs[column] = costs[column].map(_usd)
    shown = costs[["series", "period", "buckets", "cost USD", *split]]
    prices = pd.DataFrame([{"model": p.model, "price date": f"{p.date}", "source": p.source,
                            **{f"{k.removesuffix('_tokens')} $/MTok": f"{v:g}" for k, v in p.usd_per_mtok.items()}}
                           for p in inputs.prices.values()])
    return _table(shown) + "\n\nPrices used (standard API, no batch or discounts):\n\n" + _table(prices)


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

    def assumed(e: float, kind: str, note: str) -> str:
        if pd.notna(e):
            return f"x{e:.2f} (stated in the calendar)"
        if note != "planned":
            return "in the recent level already"
        if kind == "outage":
            return "none (gap in the data)"
        learned_from = int((unsized["kind"] == kind).sum())
        which = f"past {kind}(s)" + ("" if kind == "holiday" else " without a stated effect")
        return f"learned from {learned_from} {which}" if learned_from else f"none: no {which} to learn from"

    in_horizon["effect assumed"] = [assumed(e, kind, note) for e, kind, note
                                    in zip(effect, in_horizon["kind"], in_horizon["note"], strict=True)]
    return in_horizon


def _assumptions(inputs: ReportInputs) -> str:
    s = inputs.settings
    first, last = pd.Timestamp(inputs.totals["start"].min()), pd.Timestamp(inputs.totals["end"].max())
    in_horizon = events_in_horizon(inputs.events, first, last)
    for column in ("start", "end"):
        in_horizon[column] = in_horizon[column].dt.strftime("%Y-%m-%d %H:%M UTC")
    columns = ["start", "end", "name", "kind", "scope", "note", "effect assumed"]
    events = (_table(in_horizon[columns]) + "\n\nA stated effect multiplies the forecast of its scope while the "
              "event is active, as given. An event without one is sized from the past events of its kind; with one or two, "
              "that size is a rough guess the intervals do not cover."
              if len(in_horizon)
              else "No events in the calendar overlap the horizon: the forecast assumes none.")
    params = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in inputs.best_params.items()
              if k != "trend_losses"}
    history = inputs.history
    return "\n".join([
        f"- History: {history['ds'].min():%Y-%m-%d} to {history['ds'].max():%Y-%m-%d}, "
        f"{history['series'].nunique()} series, targets: {', '.join(sorted(history['target'].unique()))}; "
        f"{int(history['y'].isna().sum())} incomplete buckets treated as missing.",
        f"- Model: one global XGBoost ({s['objective']} objective) on the log-ratio to a "
        f"`{s['trend']}` trend anchor at the forecast origin (chosen in tuning, on folds before the "
        f"backtest; best pinball loss per anchor, and its trials: "
        + (", ".join(f"{k} {v['best_loss']:.4f} ({v['trials']} trials)" for k, v in s["trend_tuning_pinball"].items())
           or "one anchor configured")
        + "); direct strategy, one model for all steps.",
        f"- Intervals: split-conformal offsets from rolling-origin backtest errors; period totals "
        f"scaled by backtested errors of totals over the same steps (not sums of daily quantiles).",
        f"- Cost quantiles add token types' quantiles (token types assumed to move together).",
        f"- Long-context (>200K input) tiers are not applied: prices are base-tier rates.",
        f"- Holidays: `{s['holiday_country']}` public holidays and calendar holidays.",
        f"- Tuned hyperparameters (Optuna study `{params.get('study_name')}`, {params.get('n_trials')} trials): "
        + ", ".join(f"{k}={v}" for k, v in params.items() if k not in ('study_name', 'n_trials')),
        "",
        "Events assumed in the horizon:",
        "",
        events,
    ])


def render_report(inputs: ReportInputs) -> str:
    """The Markdown report; figures are referenced by file name in the same folder."""
    return "\n\n".join([
        f"# tokenplan quarterly plan — run {inputs.version}",
        "## Summary\n\n" + _summary(inputs),
        "## Forecast\n\n![Forecast fan charts](forecast.png)\n\nMonthly totals, P50 (interval):\n\n"
        + _monthly(inputs) + "\n\nDaily quantiles per series and target: `forecast.csv`.",
        "## Backtest: model vs baselines\n\n" + _backtest(inputs) + "\n\n![Backtest](backtest.png)",
        "## What drives the forecast (SHAP)\n\n"
        "Mean |SHAP| of the P50 over the forecast steps, in log-ratio units to the trend anchor "
        "(0.10 ≈ a 10% swing). The anchor itself (level and growth at the origin) sits outside the trees.\n\n"
        + _shap(inputs) + "\n\n![SHAP summary](shap_summary.png)",
        *([inputs.capacity] if inputs.capacity else []),
        "## Cost estimate\n\n" + _costs(inputs),
        "## Assumptions\n\n" + _assumptions(inputs),
    ]) + "\n"


_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; }
code { background: #f3f3f3; padding: 0 0.2em; }
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
