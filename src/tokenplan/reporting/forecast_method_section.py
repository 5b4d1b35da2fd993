"""Report section: the fold layout this history supports, the method chosen per series, and every candidate's backtest."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from tokenplan.forecasting.candidates import members_present
from tokenplan.forecasting.diagnostics import BASELINES, beaten, comparable_mase, uses_baseline
from tokenplan.forecasting.method_choice import ensemble_ranking
from tokenplan.forecasting.target_series import SEASON_LENGTHS
from tokenplan.reporting.markdown import markdown_table as _table
from tokenplan.reporting.number_format import apart, times

__all__ = ["baseline_wins", "compared_series", "ensemble_keys", "render_method_section", "tie_margin"]

_UNITS = {"h": "hours", "D": "days"}


def _shares_text(selection: dict[str, Any]) -> str:
    """`` Here s is, for the ensemble: requests 0.41, ...``: each method the forecast uses, its targets' level
    shares."""
    used = {"ensemble", *(selection.get("methods") or {}).values()}
    parts = [f"for {'the ' if method == 'ensemble' else ''}{method}: "
             + ", ".join(f"{target} {share:.2f}" for target, share in sorted(shares.items()) if target != "__all__")
             for method, shares in sorted((selection.get("level_shares") or {}).items()) if method in used]
    return f" Here s is, {'; '.join(parts)}." if parts else ""


def _layout_text(layout: dict[str, Any], selection: dict[str, Any] | None = None) -> str:
    unit = _UNITS.get(layout["freq"], layout["freq"])
    seasons = ", ".join(str(s) for s in layout["seasons"] if s > 1) or "none"
    lines = [
        f"- History: {layout['history_steps']} {unit} ({layout['history_start'][:16]} to "
        f"{layout['history_end'][:16]} UTC); horizon {layout['horizon']} {unit}.",
        f"- Seasons the history supports: {seasons} {unit}; MSTL uses them all (each fold those the history "
        f"before its origin supports); features and seasonal baselines use "
        f"{layout['season'] if layout['season'] > 1 else 'no season'}"
        + (" (a longer season's warm-up and folds do not fit this history)"
           if layout["season"] < max(s for s in layout["seasons"] if s <= SEASON_LENGTHS[layout["freq"]]) else "")
        + f"; the recent level is the median of the last {layout['level_blocks']} seasons.",
        f"- Folds: {len(layout['tuning_origins'])} tuning (origins {', '.join(o[:16] for o in layout['tuning_origins'])})"
        f" then {len(layout['backtest_origins'])} backtest (origins "
        f"{', '.join(o[:16] for o in layout['backtest_origins'])}), each {layout['window']} {unit} long. "
        "XGBoost is tuned on the tuning folds only; the method per series is chosen on every fold, and the "
        "backtest folds grade the choosing rule itself (each on the folds before it).",
        "- Model: " + ("the tuned XGBoost is one of the candidates." if layout["model"] else
                       "**not trained**: the history is too short to train it before the tuning folds, so the "
                       "simple methods (seasonal naive, seasonal mean, MSTL and their combination) stand in."),
    ]
    borrowed = sorted({key.rpartition("|")[0] for key in (selection or {}).get("borrowed_evidence", [])})
    if borrowed:
        named = ", ".join(borrowed[:5]) + (f" and {len(borrowed) - 5} more" if len(borrowed) > 5 else "")
        lines.append(f"- {len(borrowed)} series started later than the history: no fold is as long as their "
                     "forecast's history (the folds sit where their seasons were not yet there), so each takes its "
                     "target's method and ensemble members from the other series' folds that are: "
                     f"{named} (`borrowed_evidence` in `model_selection.json`).")
    if layout["window"] < layout["horizon"]:
        lines.append(f"- The backtest windows ({layout['window']} {unit}) are shorter than the horizon: "
                     f"intervals past step {layout['window']} are the last backtested width times "
                     "sqrt(s x step / window + 1 - s), s being the share of the backtest errors' variance that "
                     "is each fold's level error (a level error accumulates like a random walk; a bucket's own "
                     f"noise does not grow with the step).{_shares_text(selection or {})} Monthly totals past the "
                     "window grow likewise.")
    season = layout["season"]
    change = ("week-over-week" if season == SEASON_LENGTHS[layout["freq"]] else
              "day-over-day" if (layout["freq"], season) == ("h", 24) else f"{unit[:-1]}-over-{unit[:-1]}")
    lines.append("- Intervals never narrow with the step: each group of steps gets at least the width of the "
                 "group before it, calibrated per method on its own out-of-sample errors (each fold's weighted "
                 "by its rank in time, the latest most) and scaled by each "
                 f"series' own noise ({change} log changes), so noisier series get wider intervals.")
    return "\n".join(lines)


def compared_series(metrics: pd.DataFrame, planned: set[str] | None = None) -> pd.DataFrame:
    """Per series and target, every method's backtest MASE on the chosen method's rows
    (``tokenplan.forecasting.diagnostics.comparable_mase``), of the ``planned`` series only when given: a series
    that ended before the forecast is in the backtest, not in the plan."""
    per_series = comparable_mase(metrics)
    if planned is None:
        return per_series
    return per_series[per_series.index.get_level_values("series").astype(str).isin(planned)]


def baseline_wins(metrics: pd.DataFrame, planned: set[str] | None = None, margin: float = 0.0) -> pd.DataFrame:
    """Series/targets (of the ``planned`` series when given, ``compared_series``) where a simple baseline's
    backtest MASE beats the chosen method's by more than ``margin`` of it, on the same rows; with
    ``best_baseline`` and its MASE.

    ``margin``: the selection rule's (``training.selection.margin``), the gain below which the rule reads two
    methods as tied on the folds; a baseline 1-3% ahead on a handful of folds is that noise, and counted as a
    win it made the demo's second-largest risk of a chosen MASE 1.12 against MSTL's 1.09.
    """
    per_series = compared_series(metrics, planned)
    baselines = [b for b in BASELINES if b in per_series.columns]
    if "chosen" not in per_series.columns or not baselines:
        return per_series.iloc[:0].assign(best_baseline=pd.Series(dtype=object), best_baseline_mase=np.nan)
    out = per_series.copy()
    out["best_baseline"] = per_series[baselines].dropna(how="all").idxmin(axis=1)  # NaN where none scored
    out["best_baseline_mase"] = per_series[baselines].min(axis=1)
    return out.loc[beaten(out["chosen"], out["best_baseline_mase"], margin)]


def _without_evidence(history: pd.DataFrame | None, methods: dict[str, str], layout: dict[str, Any]) -> str:
    """A sentence naming the series no tuning fold covers (their history starts too late): they get
    the default ensemble, and intervals from a backtest fold where one covers them, else borrowed."""
    if history is None or history.empty or not layout or not layout.get("tuning_origins"):
        return ""
    observed = history[np.isfinite(history["y"])]
    first = observed.groupby([observed["series"].astype(str), observed["target"].astype(str)])["ds"].min()
    missing = first[[f"{s}|{t}" not in methods for s, t in first.index]]
    if missing.empty:
        return ""
    starts = missing.groupby(level="series").min()
    named = ", ".join(f"{s} (history from {d:%Y-%m-%d})" for s, d in starts.items())
    return (f"**No method chosen on evidence for {named}**: "
            f"no tuning fold covers its history (the last one starts {layout['tuning_origins'][-1][:10]}), so it is "
            "forecast by the default ensemble. Its intervals come from its own backtest errors where a backtest "
            "fold covers it, else from its target's widths learned on the other series: read those as borrowed, "
            "not measured.")


def forecast_members(selection: dict[str, Any], drops: pd.DataFrame | None) -> dict[str, list[str]]:
    """``series|target`` -> the members the forecast's median combines: the ranked candidates less
    those the guard dropped at the forecast origin, the first ``ensemble_size`` of them."""
    ranking, size = ensemble_ranking(selection)
    final = drops[drops["role"] == "final"] if drops is not None and "role" in drops else pd.DataFrame()
    dropped = {} if final.empty else {
        key: set(group["method"].astype(str))
        for key, group in final.assign(key=final["series"].astype(str) + "|" + final["target"].astype(str))
        .groupby("key")}
    return {key: members_present(methods, set(methods) - dropped.get(key, set()), size)
            for key, methods in ranking.items()}


def ensemble_keys(members: dict[str, list[str]], methods: dict[str, str], ended: set[str] | None = None,
                  planned: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``members`` of the ``series|target`` keys the forecast uses the ensemble for: per ``planned`` (the forecast's
    method per key) when given, else per ``methods`` (a key without a method chosen on evidence keeps the default
    ensemble), less the ``ended`` series, which are not forecast."""
    ended = ended or set()
    if planned is not None:
        return {k: v for k, v in members.items() if planned.get(k) == "ensemble"}
    return {k: v for k, v in members.items()
            if methods.get(k, "ensemble") == "ensemble" and k.rpartition("|")[0] not in ended}


def _members_text(members: dict[str, list[str]], used: dict[str, str], shown: int = 3) -> str:
    """`` Its members in the forecast: a requests: mstl, xgboost, ...`` for the first ``shown`` series the forecast
    uses the ensemble for; where it uses it for none, which methods it uses (``used``: key -> method)."""
    if not members:
        counts = pd.Series(list(used.values()), dtype=str).value_counts()
        unranked = int(counts.pop("ensemble")) if "ensemble" in counts else 0
        methods = ", ".join(f"{method} ({n} series/targets)" for method, n in counts.items())
        if unranked:  # series no fold ranked the candidates for (a series newer than the folds)
            return (f" The forecast uses it for {unranked} series/targets that no fold ranked the candidates for, "
                    f"so every candidate the guard kept is combined"
                    + (f"; the others are each forecast by one method, {methods}." if methods else "."))
        return (" The forecast uses it for no series/target"
                + (f": each is forecast by one method, {methods}." if methods else "."))
    first = list(members.items())[:shown]
    listed = "; ".join(f"{key.replace('|', ' ')}: {', '.join(methods)}" for key, methods in first)
    more = f"; {len(members) - shown} more in `data/06_models/model_selection.json`" if len(members) > shown else ""
    return f" Its members, where the forecast uses it: {listed}{more}."


def _unscored_members_text(members: dict[str, list[str]], metrics: pd.DataFrame) -> str:
    """Why a member of the forecast's median has no column in the backtest table, where one has none."""
    scored = set(metrics["method"].astype(str)) if "method" in metrics else set()
    counts = Counter(method for methods in members.values() for method in methods if method not in scored)
    if not counts:
        return ""
    named = ", ".join(f"{method} ({n} series/targets)" for method, n in sorted(counts.items()))
    return (f"Members of the forecast's median with no column in the table: {named}. Each has an error at one "
            "fold only (the history before the earlier folds was too short to fit it, or the guard dropped it "
            "there): with no other fold to calibrate its intervals on it has no out-of-sample score, and its "
            "place among the members comes from that fold's error against the other candidates'.")


def _single_text(selection: dict[str, Any], layout: dict[str, Any]) -> str:
    """Why every series keeps the ensemble, when the windows are too short for the horizon."""
    if selection.get("single_method_allowed", True) or not layout:
        return ""
    return (f" (here the windows are {layout['window']} steps against a horizon of {layout['horizon']}, so every "
            "series keeps the ensemble: a win over the windows says little about the horizon's trend)")


def _rule_text(selection: dict[str, Any], layout: dict[str, Any] | None = None,
               drops: pd.DataFrame | None = None, members: dict[str, list[str]] | None = None,
               used: dict[str, str] | None = None) -> str:
    rule = selection.get("rule") or {}
    if not rule:
        return ""
    size = rule.get("ensemble_size", 0)
    pooled = (f"the per-step median of the {size} candidates with the lowest error on the earlier folds, among "
              "those that passed the guard (a fold where the guard dropped a candidate counts as that fold's worst "
              "error; folds before the history could fit a candidate count as it did, against the others, where it "
              "could; one the guard drops at the forecast origin gives way to the next best)."
              f"{_members_text(members or {}, used or {})}") if size else \
        "the per-step median of the candidates that passed the guard."
    return (f"**How a method is chosen.** The default is the ensemble, {pooled} "
            "A single method replaces it only on clear evidence: an error at every fold "
            f"(the guard never dropped it), at least {rule['min_folds']} folds, and a mean log MAE ratio more than "
            f"{rule['margin']:.0%} below the ensemble's by at least {rule['z']:g} standard error(s), with a win on "
            f"at least {rule.get('min_win_share', 0.66):.0%} of the folds, and only where the backtest windows span "
            f"at least {rule.get('min_window_share', 0.25):.0%} of the horizon{_single_text(selection, layout)}. "
            "Evidence is read "
            f"across series first (at least {rule.get('min_series', 3)} series, each series' mean ratio one "
            "observation), which can make one method every series' default for a target; then per series, "
            "where a method must beat that default on the series' own folds. The forecast's choice uses every "
            "fold; `chosen` in the backtest is the rule applied at each backtest fold to the folds before it "
            "(the ensemble where too few precede it), so its score is out of sample.")


def _capped_text(capped: list[dict] | None) -> str:
    """The series-targets whose upper quantiles the guard held at its P90 envelope in the plan, largest first."""
    if not capped:
        return ""
    shown = "; ".join(f"{c['series']} {c['target']} on {c['buckets']:,} of {c['of']:,} buckets (by up to "
                      f"x{c['ratio']:.2f})" for c in capped[:5])
    more = f"; and {len(capped) - 5} more" if len(capped) > 5 else ""
    return (f"**Held at the envelope in the plan:** the upper quantiles of {shown}{more}. There the P90 is the "
            "guard's cap (the history's highs times its growth), not the method's own: a wider interval than the "
            "history supports, or a growth the history has not shown.")


def _guard_text(selection: dict[str, Any], drops: pd.DataFrame | None, capped: list[dict] | None = None) -> str:
    """The guard's parameters, the candidates it dropped (at the forecast origin, and per fold) and the upper
    quantiles it held at its envelope in the plan (``capped``)."""
    guard = selection.get("guard") or {}
    if not guard:
        return ""
    lines = [
        "**Plausibility guard.** Every candidate's P50 must stay inside an envelope read off the series' own "
        "history up to the origin: at most "
        f"x{guard['p50_multiple']:g} the larger of the highest value at the same phase of the season and the "
        f"highest season mean over the last {guard['recent_seasons']} seasons (at least {guard['min_window']} "
        "steps), times the growth the history has shown over spans as long as the step is ahead (its largest "
        "rise of one season's mean over another; a span longer than the history gets the largest rise it "
        "shows, never compounded) and any stated event "
        f"effect; and at least the matching low divided by {guard['lower_divisor']:g}, with each whole season's mean "
        f"at least the lowest recent season mean divided by {guard['lower_divisor']:g} and the largest fall the "
        "history shows over as long (a key used every other day has empty days at every phase, but not empty "
        "weeks). A candidate outside it at any step or season is dropped for that series. "
        f"P90 is capped at x{guard['p90_multiple']:g} the same base, and "
        "past the backtested window intervals widen no further than the widest error the backtest saw. "
        f"MSTL's trend, for a series observed fewer than {guard['undamped_trend_seasons']} weeks, is none or a "
        "damped one, whichever fits better (AICc); never an undamped one.",
    ]
    if drops is None or drops.empty:
        lines.append("No candidate left the envelope at any fold or at the forecast origin.")
        return "\n\n".join([*lines, *filter(None, [_capped_text(capped)])])
    final = drops[drops["role"] == "final"]
    folds = drops[drops["role"] != "final"]
    if len(final):
        rows = final.sort_values("ratio", ascending=False).assign(
            ratio=lambda t: t["ratio"].map(times), step=lambda t: t["step"].astype(int))
        lines.append("**Dropped at the forecast origin** (the plan does not use them for these series):\n\n"
                     + _table(rows[["series", "target", "method", "side", "step", "ratio"]].rename(
                         columns={"side": "outside", "step": "worst step", "ratio": "point / bound"})))
    else:
        lines.append("No candidate left the envelope at the forecast origin.")
    if len(folds):
        counts = folds.groupby("method").size().sort_values(ascending=False)
        lines.append(f"At the backtest and tuning folds the guard dropped {len(folds)} candidate forecast(s): "
                     + ", ".join(f"{m} {n}" for m, n in counts.items())
                     + " (a dropped method is not eligible to replace the ensemble for that series).")
    return "\n\n".join([*lines, *filter(None, [_capped_text(capped)])])


def _win_text(series: str, target: str, row: pd.Series, used: bool = False) -> str:
    """``a requests (chosen 1.0987 vs mstl 1.0962)``: as many digits as it takes for the two not to read as a tie."""
    chosen, baseline = apart(row["chosen"], row["best_baseline_mase"])
    return (f"{series} {target} (chosen {chosen} vs {row['best_baseline']} {baseline}"
            + ("; the forecast uses it, chosen on every fold" if used else "") + ")")


def tie_margin(selection: dict[str, Any] | None) -> float:
    """The selection rule's margin recorded in a model selection (0 where it records none)."""
    return float(((selection or {}).get("rule") or {}).get("margin", 0.0))


def _ties_text(metrics: pd.DataFrame, planned: set[str] | None, margin: float, shown: int = 3) -> str:
    """The series/targets where a baseline is ahead of the chosen method by less than ``margin`` (a tie to the rule),
    the closest ``shown`` named."""
    if margin <= 0:
        return ""
    ahead = baseline_wins(metrics, planned)
    if ahead.empty:
        return ""
    ties = ahead.loc[~beaten(ahead["chosen"], ahead["best_baseline_mase"], margin)]
    if ties.empty:
        return ""
    named = "; ".join(_win_text(s, t, row) for (s, t), row in ties.head(shown).iterrows())
    more = f"; {len(ties) - shown} more in `backtest_metrics.csv`" if len(ties) > shown else ""
    return (f" A baseline is ahead by less than the selection rule's margin ({margin:.0%} of the chosen method's "
            f"MASE, a tie on these folds) for {len(ties)}: {named}{more}.")


def _unbacktested(metrics: pd.DataFrame, methods: dict[str, str], planned: set[str] | None) -> dict[str, list[str]]:
    """Per planned series (``methods``' keys, of the ``planned`` series when given), the targets without a backtest
    (too young for a fold): none of their MASEs is compared."""
    compared = {(str(s), str(t)) for s, t in compared_series(metrics, planned).index}
    missing: dict[str, list[str]] = {}
    for key in methods:
        series, _, target = key.rpartition("|")
        if (planned is None or series in planned) and (series, target) not in compared:
            missing.setdefault(series, []).append(target)
    return missing


def _verdict(metrics: pd.DataFrame, methods: dict[str, str], planned: set[str] | None,
             series_shown: dict[str, Any] | None, margin: float = 0.0) -> str:
    """Where a simple baseline beat the chosen method by more than the rule's ``margin``, among the ``planned``
    series (all when None), and the near ties; a win the forecast already acts on (it uses that baseline) is
    named apart, so the count is the summary's."""
    losses = baseline_wins(metrics, planned, margin)
    of = len(compared_series(metrics, planned))
    planned_words = "planned " if planned is not None else ""
    uses = uses_baseline(losses.index, losses["best_baseline"], methods)
    lost, acted = losses[~uses] if len(losses) else losses, losses[uses] if len(losses) else losses
    limited = bool(series_shown and series_shown.get("limited"))
    listed = lost[[str(s) in series_shown["series"] for s, _ in lost.index]] if limited else lost
    rest = (f"{'; ' if len(listed) else ''}{len(lost) - len(listed)} {'more ' if len(listed) else ''}among "
            "the series not shown (`backtest_metrics.csv`)" if len(listed) < len(lost) else "")
    acted_text = ("; ".join(_win_text(s, t, row, used=True) for (s, t), row in acted.iterrows()))
    within = f", or within the selection rule's {margin:.0%} of them," if margin > 0 else ""
    ties = _ties_text(metrics, planned, margin)
    young = _unbacktested(metrics, methods, planned)
    names = "; ".join(f"{series} ({', '.join(targets)})" for series, targets in sorted(young.items()))
    if lost.empty:
        every = f"every {planned_words}series and target"
        if young:
            every = (f"every backtested series and target ({of} of {of + sum(map(len, young.values()))} "
                     f"{planned_words}series/targets; the others too young for a fold: {names})")
        return ("On the backtest folds the chosen method is at least as good as both simple baselines "
                f"(seasonal naive, MSTL){within} on {every}"
                + (f", except where the forecast uses the baseline that won: {acted_text}." if len(acted) else ".")
                + ties)
    beyond = f" by more than the selection rule's {margin:.0%}" if margin > 0 else ""
    return (f"**A simple baseline (the seasonal naive or MSTL) beat the chosen method{beyond} on the backtest folds "
            f"for {len(lost)} of {of} {planned_words}series/targets"
            + (f" backtested (of {of + sum(map(len, young.values()))}; the others too young for a fold: {names})"
               if young else "") + ":** "
            + "; ".join(_win_text(s, t, row) for (s, t), row in listed.iterrows()) + rest
            + (f". Beaten too, where the forecast uses the baseline that won: {acted_text}" if len(acted) else "")
            + ". `chosen` is graded out of sample (the rule applied to the folds before each), so these "
              "windows did not influence it; read these series' intervals with that in mind." + ties)


def _unscaled_text(metrics: pd.DataFrame, shown: int = 3) -> str:
    """Which series/targets the pooled MASE leaves out: those no method has a MASE for (no seasonal change in the
    history before any fold to scale the errors by), each target's first ``shown`` named."""
    per_series = metrics[metrics["series"] != "all"]
    if per_series.empty:
        return ""
    unscaled = per_series.groupby(["target", "series"], sort=True)["mase"].apply(lambda m: bool(m.isna().all()))
    unscaled = unscaled[unscaled]
    if unscaled.empty:
        return ""
    parts = []
    for target, rows in unscaled.groupby(level="target", sort=True):
        names = [str(s) for s in rows.index.get_level_values("series")]
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        parts.append(f"{target}: {', '.join(names[:shown])}{more}")
    return ("\n\nThe pooled MASE leaves out the series/targets whose history before the folds never changed from "
            "one season to the next (nothing to scale their errors by: a target that stayed at zero, such as cache "
            "tokens of a model that never caches, or one with too little history), for every method alike; their "
            "WAPE counts in the pooled WAPE. Left out: " + "; ".join(parts) + ".")


def _ended_note(ended: dict[str, str], shown: pd.DataFrame) -> str:
    """Why an ended series still has rows in the backtest table, and that nothing counts it."""
    named = [s for s in ended if f"{s} (ended)" in set(shown["series"].astype(str))]
    if not named:
        return ""
    return ("Rows marked (ended): " + ", ".join(f"{s} (last usage {ended[s]})" for s in named)
            + " ended before the forecast and " + ("is" if len(named) == 1 else "are")
            + " not planned; the rows stay as evidence of how the methods did, and the counts below leave "
            + ("it" if len(named) == 1 else "them") + " out.\n\n")


def render_method_section(layout: dict[str, Any], selection: dict[str, Any], metrics: pd.DataFrame,
                          quantile_names: list[str], history: pd.DataFrame | None = None,
                          guard_drops: pd.DataFrame | None = None, series_shown: dict[str, Any] | None = None,
                          planned: dict[str, str] | None = None, ended: dict[str, str] | None = None,
                          capped: list[dict] | None = None) -> str:
    """Markdown: layout, the selection rule and the guard (with its drops and ``capped``, the P90s it held at
    its envelope: ``forecast.attrs["capped"]``), chosen method per series,
    every candidate's backtest, where a baseline wins, and the series of ``history`` that no fold covers.
    With ``series_shown`` (``largest_series``) leaving series out, the per-series table and the
    list of baseline wins hold the shown series only, and say where the rest are. ``planned``: the forecast's
    method per ``series|target`` (``forecast``'s ``method``; None: ``selection``'s); ``ended``: series ended
    before the forecast (``forecast.attrs["ended"]``: series -> last usage), marked and counted nowhere."""
    selection = selection or {}
    methods = selection.get("methods", {})
    ended = ended or {}
    chosen = pd.DataFrame([{"series": k.split("|")[0], "target": k.split("|")[1], "method": v}
                           for k, v in sorted(methods.items())])
    per_series = metrics[metrics["series"] != "all"].pivot_table(index=["series", "target"], columns="method",
                                                                 values="mase")
    shown = per_series.map(lambda v: f"{v:.2f}" if np.isfinite(v) else "–").reset_index()
    if len(chosen):
        scored = [c for c in shown.columns if c not in ("series", "target")]
        shown = chosen.rename(columns={"method": "chosen method"}).merge(shown, on=["series", "target"], how="left")
        # A series that ended before every fold has no backtest to show: no row of "nan"s.
        unscored = shown[scored].isna().all(axis=1) & shown["series"].astype(str).isin(set(ended))
        shown = shown[~unscored].fillna({c: "–" for c in scored})
    limited = bool(series_shown and series_shown.get("limited"))
    if limited:
        shown = shown[shown["series"].astype(str).isin(series_shown["series"])]
    shown = shown.assign(series=[f"{s} (ended)" if str(s) in ended else s for s in shown["series"]])
    pooled = metrics[metrics["series"] == "all"][["target", "method", "mase", "wape", "coverage", "n"]].copy()
    pooled["mase"] = pooled["mase"].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    pooled["wape"] = pooled["wape"].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    pooled["coverage"] = pooled["coverage"].map(lambda v: f"{v:.0%}" if np.isfinite(v) else "–")
    planned_series = ({k.rpartition("|")[0] for k in planned} if planned is not None else
                      {k.rpartition("|")[0] for k in methods} - set(ended) if ended else None)
    members = ensemble_keys(forecast_members(selection, guard_drops), methods, set(ended), planned)
    used = planned if planned is not None else {k: v for k, v in methods.items()
                                                if k.rpartition("|")[0] not in ended}
    table_note = (f"The {len(series_shown['series'])} largest of {series_shown['of']} series; every series: "
                  "`backtest_metrics.csv`.\n\n" if limited else "")
    lower, upper = quantile_names[0].upper(), quantile_names[-1].upper()
    return "\n\n".join([
        *(["### Layout\n\n" + _layout_text(layout, selection)] if layout else []),
        *([text] if (text := _rule_text(selection, layout, guard_drops, members, used)) else []),
        *([text] if (text := _guard_text(selection, guard_drops, capped)) else []),
        "### Method per series and backtest MASE of every candidate\n\n"
        "`ensemble` is the per-step median of the candidates best on the earlier folds, among those the guard "
        "kept (the candidates: XGBoost when trained, the lag model, MSTL, the seasonal mean, the seasonal naive "
        "and, for hourly data with a weekly season, the daily naive); "
        "`chosen method` is the one the plan uses for each series.\n\n"
        + table_note + _ended_note(ended, shown) + _table(shown),
        *([note] if (note := _unscored_members_text(members, metrics)) else []),
        f"Pooled over series (MASE and WAPE of the P50; coverage of {lower}–{upper}, each fold calibrated on "
        "the other folds only):\n\n" + _table(pooled.rename(columns={"coverage": f"{lower}–{upper} coverage"}))
        + _unscaled_text(metrics),
        _verdict(metrics, methods, planned_series, series_shown, tie_margin(selection)),
        *([note] if (note := _without_evidence(history, methods, layout)) else []),
    ])
