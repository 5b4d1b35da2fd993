"""The report's capacity section: peak demand per minute against the rate limits, and the gateway config.

Every number comes from the planning pipeline's tables (``capacity_plan``,
``capacity_backtest``, ``rate_limits``, ``capacity_series_demand``, ``gateway_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import BURST_MIN_BEYOND, MAX_OVER_HISTORY
from tokenplan.planning.capacity_backtest import MIN_CALIBRATION_WINDOWS, MIN_RATIO_POOL_SHARE, coverage_summary
from tokenplan.planning.capacity_plots import figure_name
from tokenplan.planning.gateway import deployment_name, deployments_held_back, gateway_rule, group_budgets
from tokenplan.planning.peaks import assumed_factor
from tokenplan.planning.rate_limits import METRICS, SPLIT_METRICS
from tokenplan.reporting.markdown import BUCKET_NAMES
from tokenplan.reporting.number_format import chance

__all__ = ["crossing_statement", "first_limit_row", "first_limit_sentence", "history_note", "render_capacity_section",
           "row_crossing", "spike_note"]

# What a metric's bucket total counts, as the spike note says it.
_DRIVER_WORDS = {"rpm": "requests", "itpm": "input", "otpm": "output", "tpm": "tokens"}


def _n(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:,.2f}{suffix}"
    return f"{value:,.0f}"


def _day(value: Any) -> str:
    return "" if pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _on(value: Any) -> str | None:
    """``on YYYY-MM-DD`` for a date, ``in YYYY-MM`` for a month label; None for no crossing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    text = str(value) if isinstance(value, str) else f"{pd.Timestamp(value):%Y-%m-%d}"
    text = text[:10]
    return f"in {text}" if len(text) == 7 else f"on {text}"


def crossing_statement(first_p50: Any, first_p90: Any, extrapolated_p50: Any = None,
                       extrapolated_p90: Any = None) -> str:
    """The one wording of a limit's first crossing, P90 first: ``first over at P90 on D; at P50 on D``.

    A quantile not over within the horizon says when the fitted growth would cross, where the plan extrapolates
    it, in every sentence alike: ``at P50 not within the horizon (the fitted growth crosses around D, an
    extrapolation)``; with neither quantile over, ``not over within the horizon; extrapolating the fitted growth,
    crossed at P50 around D and P90 around D (an extrapolation, not a forecast)``."""
    p50, p90 = _on(first_p50), _on(first_p90)
    later = {q: _day(v) for q, v in (("p50", extrapolated_p50), ("p90", extrapolated_p90))
             if v is not None and not (not isinstance(v, str) and pd.isna(v)) and v != ""}
    if p90 is None and p50 is None:
        return "not over within the horizon" + (
            "; extrapolating the fitted growth, crossed at " + " and ".join(f"{q.upper()} around {d}"
                                                                           for q, d in later.items())
            + " (an extrapolation, not a forecast)" if later else "")
    missing = "not within the horizon" + (f" (the fitted growth crosses around {later['p50']}, an extrapolation)"
                                          if "p50" in later else "")
    if p90 is None:
        return f"first over at P50 {p50}"
    return f"first over at P90 {p90}; at P50 {p50 or missing}"


def row_crossing(row: pd.Series | Mapping[str, Any]) -> str:
    """:func:`crossing_statement` of a plan row (its first days over, else its extrapolated crossings)."""
    return crossing_statement(row.get("first_crossing_p50"), row.get("first_crossing_p90"),
                              row.get("extrapolated_crossing_p50"), row.get("extrapolated_crossing_p90"))


def _count(value: Any) -> int:
    """A count (or flag) of a plan row as an int, 0 where missing (a plan from before the column)."""
    return 0 if value is None or pd.isna(value) else int(value)


def history_note(row: pd.Series | Mapping[str, Any]) -> str:
    """``already over on 6 days of history, the last 2026-09-29, peak 149`` for a plan row whose limit history's
    own busiest minutes already went over (``history_days_over``, ``history_last_over``, ``history_peak``); else
    nothing. Where those minutes are assumed, the sentence it joins says so (:func:`assumed_note`); where a group's
    are the sum of its models' busiest minutes in the hour (``history_days_summed``, ``history_peak_summed``), an
    upper bound, it says so and that the group may not have been over on those days."""
    days, summed = (_count(row.get(c)) for c in ("history_days_over", "history_days_summed"))
    if days == 0:
        return ""
    bound = " (an upper bound)" if summed and _count(row.get("history_peak_summed")) else ""
    note = (f"already over on {int(days):,} day{'s' if int(days) != 1 else ''} of history, the last "
            f"{_day(row.get('history_last_over'))}, peak {_n(float(row.get('history_peak')))}{bound}")
    if summed:
        which = ("each of them" if summed == int(days) else f"{summed:,} of them")
        note += (f", though on {which} the busiest minute is an upper bound, the sum of each model's busiest minute "
                 f"in the hour (they need not fall in the same minute), so it may not have been over")
    return note


def first_limit_row(plan: pd.DataFrame) -> pd.Series | None:
    """The first limit to bind: the horizon row crossed earliest at P90 (else at P50); on a tie, the one crossed
    earliest at P50 (more likely than not over beats a 1-in-10 chance), then the tightest."""
    rows = plan[plan["period"] == "horizon"] if (plan["period"] == "horizon").any() else plan
    when = {q: pd.to_datetime(rows[f"first_crossing_{q}"].astype("string"), errors="coerce", format="mixed")
            for q in ("p50", "p90")}
    crossed = rows.assign(_when=when["p90"].fillna(when["p50"]), _when_p50=when["p50"])
    crossed = crossed[crossed["_when"].notna()]
    if crossed.empty:
        return None
    return crossed.sort_values(["_when", "_when_p50", "headroom_p90"]).iloc[0].drop(labels=["_when", "_when_p50"])


def first_limit_sentence(row: pd.Series) -> str:
    """``<group> <METRIC> (limit <n>/min): first over at P90 on ...; at P50 on ...``, as the summary and this
    section both say it."""
    past = history_note(row)
    return (f"{row['model_group']} {str(row['metric']).upper()} (limit {_n(float(row['limit']))}/min): "
            + (f"{past}; in the horizon, " if past else "") + row_crossing(row) + assumed_note(row))


def assumed_note(row: pd.Series | Mapping[str, Any]) -> str:
    """`` (peaks assumed, not measured: ...)`` for a row whose peaks rest on the configured peak-to-mean factor
    (usage without per-minute data), so the number never goes without it; else nothing."""
    if row.get("peak_method") != "assumed":
        return ""
    return (" (peaks assumed, not measured: the usage has no per-minute data, so the busiest minute is the "
            "bucket's mean minute times `planning.capacity.assumed_peak_to_mean`, at least the busiest minute "
            "Poisson arrivals of its requests give)")


def _spike_quantiles(row: pd.Series | Mapping[str, Any]) -> list[str]:
    """``p50``/``p90``: the quantiles of a plan row that history's spikes set (a value without them)."""
    return [q for q in ("p50", "p90") if pd.notna(row.get(f"{q}_without_spikes", np.nan))]


def spike_note(row: pd.Series | Mapping[str, Any]) -> str:
    """``P90 set by a day like 2026-08-20 (12.1x the median day's input) recurring: 1 such day in 146 of history;
    without it the P90 would be 309K``, for a plan row whose P50 or P90 history's spikes set; else nothing.

    From the row's ``spike_days`` (a time in them means hourly buckets), ``spike_size``, ``spike_history_buckets``
    and ``p50_without_spikes``/``p90_without_spikes``. A named bucket whose busiest minute over its mean minute
    (``spike_burst``) is at least ``BURST_MIN_BEYOND`` times the median bucket's (``spike_median_burst``) is a
    burst, and the note gives both; ``spike_chance``, where given, is the share of draws that meet the named
    buckets in the row's period."""
    quantiles = _spike_quantiles(row)
    if not quantiles:
        return ""
    days, sizes = str(row["spike_days"]).split(";"), str(row["spike_size"]).split(";")
    bursts = _bursts(row, len(days))
    bucket = "hour" if " " in days[0] else "day"
    many = len(days) > 1
    typical = f" the median {bucket}'s {_DRIVER_WORDS.get(str(row['metric']), 'total')}"
    usual = row.get("spike_median_burst", np.nan)
    first_burst = next((i for i, b in enumerate(bursts) if b), None)
    like = " and ".join(f"{d} ({s}x{typical if i == len(days) - 1 else ''}" + (
        "" if not b else f"; busiest minute {b}x its mean minute" + (
            f", the median {bucket}'s {float(usual):.1f}x" if i == first_burst else "")) + ")"
        for i, (d, s, b) in enumerate(zip(days, sizes, bursts, strict=True)))
    count = _recurring(row, len(days), bucket)
    met = row.get("spike_chance", np.nan)
    period = "the horizon's" if row.get("period", "horizon") == "horizon" else f"{row['period']}'s"
    one = ("an " if bucket == "hour" else "a ") + bucket
    alone = [f"{q.upper()} {_n(row[f'{q}_without_biggest_spike'])}" for q in quantiles
             if many and pd.notna(row.get(f"{q}_without_biggest_spike", np.nan))]
    return (f"{' and '.join(q.upper() for q in quantiles)} set by {bucket + 's' if many else one} like "
            f"{like} recurring: {count}"
            + (f", met in {chance(float(met))} of {period} draws" if pd.notna(met) else "")
            + f"; without {'them' if many else 'it'}"
            + (" (a burst's busiest minute at its kind's usual multiple of its mean minute)" if any(bursts) else "")
            + " " + ", ".join(f"the {q.upper()} would be {_n(row[f'{q}_without_spikes'])}" for q in quantiles)
            + (f" (without {days[0]} alone: {', '.join(alone)})" if alone else ""))


def _recurring(row: pd.Series | Mapping[str, Any], named: int, bucket: str) -> str:
    """``2 such days in 146 of history``: how often the named buckets recur in the draws. A spike (by volume)
    recurs at its rate over all the history; a burst is drawn as every ratio is, from the recent weeks' buckets
    (``spike_pool_buckets``), and recurs at its rate over them."""
    kinds = str(row.get("spike_kind") or "").split(";")
    kinds = kinds if len(kinds) == named and pd.notna(row.get("spike_pool_buckets", np.nan)) else ["spike"] * named
    spikes, bursts = kinds.count("spike"), kinds.count("burst")
    such = f"{named} such {bucket + 's' if named > 1 else bucket}"
    history = f"in {int(row['spike_history_buckets']):,} of history"
    recent = f"in the {int(row.get('spike_pool_buckets', 0)):,} recent {bucket}s the ratios are drawn from"
    if not bursts:
        return f"{such} {history}"
    if not spikes:
        return f"{such} {recent}"
    return f"{such}: {spikes} {history} and {bursts} {recent}"


def _bursts(row: pd.Series | Mapping[str, Any], named: int) -> list[str]:
    """Per named bucket, its busiest minute over its mean minute where it is a burst (``BURST_MIN_BEYOND`` times
    the median bucket's), else ``""``."""
    ratios, usual = row.get("spike_burst"), row.get("spike_median_burst", np.nan)
    if not isinstance(ratios, str) or not ratios or pd.isna(usual):
        return [""] * named
    return [r if float(r) >= BURST_MIN_BEYOND * float(usual) else "" for r in ratios.split(";")]


def _gaps_text(gaps: pd.DataFrame | None) -> str:
    if gaps is None or gaps.empty:
        return ""
    lines = [f"- {row.model_group} {row.metric.upper()}: " + ("**not planned**: " if not row.planned else "")
             + row.reason + "." for row in gaps.sort_values(["planned", "model_group", "metric"]).itertuples()]
    return "**Left out of the plan, or planned without some inputs** (`capacity_gaps.csv`):\n\n" + "\n".join(lines)


def _limited(limits: pd.DataFrame) -> np.ndarray:
    """Per limits row: whether it sets any limit (the table built when none are given sets none)."""
    return np.isfinite(limits[[m for m in METRICS if m in limits]].to_numpy(float)).any(axis=1)


def _verdict(plan: pd.DataFrame, gaps: pd.DataFrame | None = None, limits: pd.DataFrame | None = None) -> str:
    if plan.empty:
        return ("**No capacity is planned in this run**" + (": every model group and metric is left out, for the "
                                                            "reasons listed below." if gaps is not None and len(gaps)
                                                            else "."))
    horizon = plan[(plan["period"] == "horizon") & plan["limit"].notna()]
    if horizon.empty:
        given = limits is not None and bool(_limited(limits).any())
        return ("**No rate limit applies to the forecast series**: " + (
            "no row of the limits given matches their models (see below). " if given else
            "no limits were given for them (your own usage is never checked against the demo's example limits). ")
            + "The busiest-minute peaks below are planned anyway; pass your limits with "
            "`--params rate_limits_file=PATH` or read them from the Admin API (docs/capacity/rate-limits.md).")
    lines = []
    first = first_limit_row(horizon)
    if first is not None:
        lines.append(f"**The first limit to bind: {first_limit_sentence(first)}** (P90: by that day the limit has been "
                     f"hit with a chance of 1 in 10 or more; P50: more likely than not, the median first day over).")
    else:
        lines.append("**No limit is crossed within the horizon, even at P90.**")
    for row in horizon.sort_values(["model_group", "metric"]).itertuples():
        spikes, past = spike_note(pd.Series(row._asdict())), history_note(row._asdict())
        lines.append(f"- {row.model_group} {row.metric.upper()}: horizon peak P50 {_n(row.p50)}, P90 {_n(row.p90)} "
                     f"against {_n(row.limit)} ({row.headroom_p90:+.0%} headroom at P90); "
                     + (f"{past}; in the horizon, " if past else "") + row_crossing(row._asdict())
                     + ("; peaks assumed" if getattr(row, "peak_method", None) == "assumed" else "")
                     + (f". {spikes}" if spikes else "")
                     + ".")
    return "\n".join(lines)


def _plan_table(plan: pd.DataFrame) -> str:
    shown = plan.sort_values(["model_group", "metric", "period"]).copy()
    return _table(pd.DataFrame({
        "model group": shown["model_group"], "metric": shown["metric"].str.upper(), "period": shown["period"],
        "peak P50": shown["p50"].map(_n), "peak P90": shown["p90"].map(_n), "limit": shown["limit"].map(_n),
        "headroom at P90": shown["headroom_p90"].map(lambda v: f"{v:+.0%}" if np.isfinite(v) else "–"),
        "first day over, P50": shown["first_crossing_p50"].map(_day),
        "first day over, P90": shown["first_crossing_p90"].map(_day),
        "fitted growth crosses (extrapolated)": [
            " / ".join(x for x in (_day(a) and f"P50 {_day(a)}", _day(b) and f"P90 {_day(b)}") if x)
            for a, b in zip(shown["extrapolated_crossing_p50"], shown["extrapolated_crossing_p90"], strict=True)],
        "already over in history": [history_note(row).removeprefix("already over on ")
                                    if row["period"] == "horizon" else "" for _, row in shown.iterrows()],
        "peaks": shown["peak_method"],
        "set by history's spikes": [
            f"{', '.join(q.upper() for q in _spike_quantiles(row))}: {str(row['spike_days']).replace(';', ', ')}"
            if _spike_quantiles(row) else "" for _, row in shown.iterrows()],
    }))


def _backtest_text(backtest: pd.DataFrame, calibration: Mapping[str, Any], assumed: bool = False) -> str:
    if backtest.empty:
        return "No backtest windows with realised per-minute peaks: the peak forecast is not calibrated."
    summary = coverage_summary(backtest)
    percent = lambda v: f"{v:.0%}"  # noqa: E731
    table = _table(pd.DataFrame({
        "metric": summary["metric"].str.upper(), "window": summary["window"], "windows": summary["windows"],
        "under P50": summary["under_p50"].map(percent), "under P90": summary["under_p90"].map(percent),
        "under P50, raw": summary["under_p50_raw"].map(percent), "under P90, raw": summary["under_p90_raw"].map(percent),
        "P90 at most 2x the realised peak": summary["p90_within_2x"].map(percent),
    }))
    folds = backtest["origin"].nunique()
    return (f"On {folds} held-out windows of history (the training backtest's folds: the out-of-sample forecast "
            f"of totals, ratios seen up to each origin), the realised busiest minute of each day, each month and "
            f"each whole window against the peak forecast made at the origin. A calibrated forecast has about "
            f"50% under P50 and 90% under P90. \"Raw\" is the simulation alone; the calibrated columns correct its "
            f"ratios with the correction fitted on the *other* folds only. The plan uses the correction fitted on all "
            f"folds: {_calibration_text(calibration, assumed)}."
            + (" **The history has no per-minute peaks here**, so its busiest minutes are its bucket totals times "
               "the assumed peak-to-mean factor (see the assumptions below): this backtest checks the forecast of "
               "totals, not how bursty a minute gets." if assumed else "")
            + f"\n\n{table}\n\nPer window: `capacity_backtest.csv`.")


def _short_history_text(calibration: Mapping[str, Any]) -> str:
    short = int(calibration.get("short_history_windows", 0))
    return (f"; {short} windows left out, of folds whose ratios were drawn from under {MIN_RATIO_POOL_SHARE:.0%} "
            f"of the history the plan's are: with few of history's bursts to draw from, their draws fall short for "
            f"want of data, which the plan does not share" if short else "")


def _carries_text(calibration: Mapping[str, Any]) -> str:
    """Why an applied correction is applied: its out-of-fold pinball loss against the uncorrected one, the test it
    passed (the calibrated columns' coverage alone does not judge it: a P90 under which 96% of days fall is too
    wide, one at 71% too narrow, and the loss weighs both quantiles' misses by their size)."""
    if "out_of_fold_loss" not in calibration:
        return ""
    return (f". It is applied because it carries from fold to fold: each fold's peaks, corrected by the other "
            f"folds' fit, score a pinball loss (of log P50 and log P90) of {calibration['out_of_fold_loss']:.3f} "
            f"against {calibration['out_of_fold_loss_uncorrected']:.3f} uncorrected; the table's coverage weighs "
            f"only which side of a quantile each peak fell, the loss also how far")


def _calibration_text(calibration: Mapping[str, Any], assumed: bool = False) -> str:
    if not calibration or "ratio_scale" not in calibration:
        return "none (too few windows)"
    if assumed:
        return ("none: every ratio, history's and the draws', is the assumed peak-to-mean factor, so there is "
                "nothing to correct")
    if calibration.get("windows", MIN_CALIBRATION_WINDOWS) < MIN_CALIBRATION_WINDOWS:
        return f"none, {calibration['windows']} windows are too few to fit one{_short_history_text(calibration)}"
    if not calibration.get("applied", True):
        return (f"none, as the pair fitted on {calibration['windows']} windows, {calibration['fitted_scale']:.2f} x "
                f"ratio^{calibration['fitted_power']:.2f}, does not carry from fold to fold (each fold's peaks, "
                f"corrected by the other folds' fit, score a pinball loss of {calibration['out_of_fold_loss']:.3f} "
                f"against {calibration['out_of_fold_loss_uncorrected']:.3f} uncorrected), so the simulated ratios "
                f"stand{_short_history_text(calibration)}")
    kinds = ", ".join(f"{n} {'whole-window' if k == 'horizon' else k}" for k, n in
                      sorted(calibration.get("by_kind", {}).items()))
    return (f"each bucket's busiest-minute/mean-minute ratio becomes {calibration['ratio_scale']:.2f} x "
            f"ratio^{calibration['ratio_power']:.2f}, fitted on {calibration['windows']} windows ({kinds}; each "
            f"kind weighs the same{_short_history_text(calibration)}) so that the ratios, applied to the *realised* "
            f"bucket totals, put history's own busiest minutes under P50 and P90 as often as they should"
            f"{_carries_text(calibration)}. It corrects the peak model only, not the "
            f"forecast of totals; being one increasing function of each ratio, it keeps a month's peak never below "
            f"a day's in it, nor the horizon's below a month's")


def _shown_metrics(plan: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """The metrics planned or set in the gateway, in :data:`METRICS` order (Anthropic's three when none)."""
    used = set(plan["metric"]) | {m for e in config.get("model_list", []) for m in e["litellm_params"] if m in METRICS}
    return [m for m in METRICS if m in used] or list(SPLIT_METRICS)


def _gateway_text(config: Mapping[str, Any], safety_margin: float, metrics: list[str],
                  series_demand: pd.DataFrame | None = None, plan: pd.DataFrame | None = None,
                  limits: pd.DataFrame | None = None) -> str:
    rows = [{"model_name": e["model_name"], "model": e["litellm_params"]["model"],
             **{m.upper(): _n(e["litellm_params"].get(m, np.nan)) for m in metrics}}
            for e in config.get("model_list", [])]
    deployed = {e["model_name"] for e in config.get("model_list", [])}
    demand = series_demand if series_demand is not None and len(series_demand) else pd.DataFrame({"series": []})
    unreachable = sorted({str(s).split("/")[0] for s in demand["series"].dropna()
                          if deployment_name(s) not in deployed})
    table = (_table(pd.DataFrame(rows)) if rows else
             "No deployment." if unreachable else "No deployment: no series has forecast traffic.")
    held = []
    if series_demand is not None and len(series_demand) and plan is not None and limits is not None and len(plan):
        peaks = plan.loc[plan["period"] == "horizon", ["model_group", "metric", "p90"]]
        held = deployments_held_back(config, series_demand, peaks,
                                     group_budgets(limits.set_index("model_group"), safety_margin))
    if unreachable:
        table += (f"\n\n**No deployment for {', '.join(unreachable)}**: genai-prices does not know "
                  f"{'these models' if len(unreachable) > 1 else 'this model'}, so no provider is known to send "
                  "its calls to; give its LiteLLM provider prefix in `planning.capacity.gateway.providers`.")
    if held:
        table += ("\n\n**The gateway holds back these deployments at their own P90 minute** (their group's P90 "
                  "minute is over its provider limit less the safety margin, so each is held to the same share of "
                  "its own P90 peak): " + "; ".join(f"{h['model_name']} {h['metric'].upper()} {_n(h['limit'])} "
                                                   f"against its P90 peak {_n(h['p90'])}" for h in held) + ".")
    return ("A LiteLLM proxy config, `gateway/litellm_config.yaml`: " + gateway_rule(safety_margin) + ". "
            "LiteLLM enforces them with `router_settings.optional_pre_call_checks: "
            "[\"enforce_model_rate_limits\"]` (its ITPM excludes cache reads; OTPM reserves `max_tokens` and is "
            "corrected after the response" + ("; TPM counts every token of a call, cached input included"
                                              if "tpm" in metrics else "")
            + "; marked beta by LiteLLM).\n\n" + table)


def _limit_kinds(limits: pd.DataFrame, metrics: list[str], plan: pd.DataFrame) -> list[str]:
    """What ITPM and TPM count, for the metrics shown; with a TPM limit, which limits each group is planned
    against (a group with RPM and TPM gets no ITPM or OTPM rows): the plan's own rows, so a limits row that no
    series belongs to is never listed."""
    reads = limits.loc[limits["itpm_counts_cache_reads"].astype(bool), "model_group"].tolist()
    lines = ["- ITPM counts uncached input + cache writes" + (f"; for {', '.join(reads)} cache reads count too "
                                                              "(scaled by each hour's share of cache reads)" if reads
                                                              else "; cache reads do not count") + "."]
    if "tpm" not in metrics:
        return lines
    limited = plan[plan["limit"].notna()] if "limit" in plan else plan.iloc[:0]
    by_group = limited.groupby("model_group")["metric"].unique()
    planned = "; ".join(f"{g}: {', '.join(m.upper() for m in METRICS if m in set(by_group[g]))}"
                        for g in limits["model_group"] if g in by_group.index) or "none"
    return [*(lines if "itpm" in metrics else []),
            "- TPM (total tokens per minute, OpenAI's kind of limit) counts every token: uncached input, cache "
            "writes, cache reads and output. Where the usage has per-minute peaks, a bucket's busiest TPM minute is "
            "its busiest input minute plus its busiest output minute: an upper bound.",
            f"- Limits planned against, per group: {planned}."]


def _assumptions(plan: pd.DataFrame, limits: pd.DataFrame, demand: pd.DataFrame, params: Mapping[str, Any],
                 metrics: list[str], usage_freq: str | None = None) -> str:
    sources = "; ".join(sorted({f"{s}" + (f", as of {d}" if d else ", undated")
                                for s, d in zip(limits["source"], limits["as_of"], strict=True)}))
    assumed = sorted(set(plan.loc[plan["peak_method"] == "assumed", "model_group"]))
    unmatched = sorted(set(demand.loc[demand["model_group"].isna(), "series"])) if len(demand) else []
    groups_with_many = demand.dropna(subset=["model_group"]).groupby("model_group")["series"].nunique()
    assumed_factors = params.get("assumed_peak_to_mean", {})
    # The one factor applied (the usage's own buckets); every configured one where the width is not known.
    factors = (f"x{assumed_factor(assumed_factors, usage_freq):g} for {BUCKET_NAMES.get(usage_freq, usage_freq)}"
               if usage_freq and assumed_factors else
               ", ".join(f"x{v:g} for {BUCKET_NAMES.get(k, k)}" for k, v in assumed_factors.items()))
    unplanned = set(limits.loc[_limited(limits), "model_group"]) - set(plan["model_group"])
    lines = [
        f"- Limits: {sources}. Groups: " + "; ".join(
            f"{g} ({m}" + ("; **not planned against**: see \"Left out of the plan\"" if g in unplanned else "") + ")"
            for g, m in zip(limits["model_group"], limits["models"], strict=True)) + ".",
        *_limit_kinds(limits, metrics, plan),
        f"- Peak method: each bucket's forecast total times a busiest-minute/mean-minute ratio drawn from the last "
        f"{params.get('ratio_weeks')} weeks of history (same weekday/weekend kind, among buckets about as busy for "
        f"their week as the bucket's draw is for its forecast; above the forecast's P90, one of history's busiest "
        f"tenth of buckets, its volume and its burst together: the recent weeks' busy buckets, and history's "
        f"spikes at their rate over all the history); forecast errors shared over "
        f"the horizon with correlation {params.get('error_correlation')} (assumed; checked by the backtest above), "
        f"and past the backtest's window the intervals' widening (a level error) shared by every bucket; "
        f"{params.get('n_draws')} draws, their ratios corrected by the backtest's calibration shown above before "
        f"any window's peak is taken. Driver totals of several targets or series add their quantiles (assumed to "
        f"move together). A drawn bucket total is at most its forecast's P90, or {MAX_OVER_HISTORY:g} times the higher "
        f"of history's busiest bucket and its own P50 where that is more (a plausibility bound, as the forecast's "
        f"guard caps a P90 at {MAX_OVER_HISTORY:g} times the recent high, grown). A month's or the horizon's peak is "
        f"its busiest bucket. A P50 or P90 that history's spikes, or its bursts (a busiest minute at least "
        f"{BURST_MIN_BEYOND:g} times its kind's usual multiple of the mean minute, at any volume), lift by a tenth or "
        f"more names them (\"set by history's spikes\"), with how often the period's draws meet them and the "
        f"quantile without them.",
        "- Peaks measured from per-minute data for every group." if not assumed else
        f"- **Peaks assumed, not measured, for {', '.join(assumed)}**: no per-minute data, so busiest minute = "
        f"mean minute {factors} usage buckets (`planning.capacity.assumed_peak_to_mean`), at least the busiest "
        f"minute Poisson arrivals of the bucket's requests give where the usage counts requests (a model of a few "
        f"requests a minute has whole requests in its busiest minute: many times its mean minute).",
        "- Extrapolated crossings fit a log-linear trend to the weekly highs of the P50 and P90 peak inside the "
        "horizon and extend it; they are not forecasts.",
    ]
    if (groups_with_many > 1).any():
        lines.append("- A group with several series sums their busiest minutes per hour: an upper bound, as "
                     "their busiest minutes need not coincide (the usage carries each model's busiest minute, not "
                     "the group's), so history's busiest minute and its days over a limit may be too high.")
    if unmatched:
        lines.append(f"- No rate limit known for: {', '.join(unmatched)} (not in the limits table).")
    return "\n".join(lines)


def render_capacity_section(capacity_plan: pd.DataFrame, capacity_backtest: pd.DataFrame,
                            rate_limits: pd.DataFrame, capacity_series_demand: pd.DataFrame,
                            gateway_config: Mapping[str, Any], params: Mapping[str, Any],
                            capacity_calibration: Mapping[str, Any] | None = None,
                            capacity_gaps: pd.DataFrame | None = None, usage_freq: str | None = None) -> str:
    """The capacity section (markdown, from its ``##`` heading), figures referenced by file name; ``usage_freq``:
    the usage's own bucket width, whose assumed busiest-minute factor applied where peaks are assumed."""
    metrics = _shown_metrics(capacity_plan, gateway_config)
    figures = "\n\n".join(f"![Capacity: {group}]({figure_name(group)})"
                          for group in sorted(capacity_plan["model_group"].unique()))
    return "\n\n".join(part for part in [
        "## Capacity: peak per-minute demand against the rate limits",
        _verdict(capacity_plan, capacity_gaps, rate_limits),
        _gaps_text(capacity_gaps),
        figures,
        "Peak per minute per model group, month and the whole horizon (P50/P90 of the busiest minute; headroom = "
        "share of the limit left above the P90 peak; `capacity_plan.csv`). A period's peak is its busiest minute "
        "over all its days, and \"first day over\" the first day by which its busiest minute so far is over at "
        "that quantile (at P50 the median first day over), so a period has a first day over exactly when its "
        "peak is over the limit, even when no single day's P50 is:\n\n" + _plan_table(capacity_plan),
        "### Backtest of the peak forecast\n\n" + _backtest_text(
            capacity_backtest, capacity_calibration if params.get("calibrate", True) else {},
            assumed=bool(len(capacity_plan)) and bool((capacity_plan["peak_method"] == "assumed").all())),
        "### Gateway config\n\n" + _gateway_text(gateway_config, float(params["gateway"]["safety_margin"]), metrics,
                                            capacity_series_demand, capacity_plan, rate_limits),
        "### Capacity assumptions\n\n" + _assumptions(capacity_plan, rate_limits, capacity_series_demand, params,
                                                       metrics, usage_freq),
    ] if part)

