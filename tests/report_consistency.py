"""Identities every report folder must satisfy: two tables never disagree about the same quantity.

``inconsistencies(folder)`` returns one line per identity broken (empty: consistent). It reads only
the report folder's files (its tables, report.md and the gateway config), as a reviewer would, and is run on
the end-to-end demo's report and the demo organisation's (whose organisation tables it also checks,
``_organisation``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

TOKEN_TYPES = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")
BASELINE = "official_api"


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-9)


def _quantiles(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if re.fullmatch(r"p\d+", c)]


def _totals(folder: Path, q: list[str]) -> list[str]:
    """forecast_totals: months add to the horizon at P50, its interval inside the months' summed bounds,
    quantiles ordered, buckets = the forecast's buckets."""
    totals = pd.read_csv(folder / "forecast_totals.csv")
    forecast = pd.read_csv(folder / "forecast.csv", parse_dates=["timestamp"])
    lo, med, hi = q[0], q[len(q) // 2], q[-1]
    months, horizon = totals[totals["period"] != "horizon"], totals[totals["period"] == "horizon"]
    summed = months.groupby(["series", "target"])[q].sum()
    whole = horizon.set_index(["series", "target"])[q].reindex(summed.index)
    out = [f"forecast_totals {k}: months' {med} {summed.loc[k, med]:.6g} != horizon {whole.loc[k, med]:.6g}"
           for k in summed.index if _rel(summed.loc[k, med], whole.loc[k, med]) > 5e-3]
    out += [f"forecast_totals {k}: horizon interval outside the months' summed {lo}/{hi}" for k in summed.index
            if whole.loc[k, lo] < summed.loc[k, lo] * (1 - 1e-6) or whole.loc[k, hi] > summed.loc[k, hi] * (1 + 1e-6)]
    unordered = totals[(totals[lo] > totals[med] + 1e-9) | (totals[med] > totals[hi] + 1e-9)]
    out += [f"forecast_totals: {len(unordered)} rows with quantiles out of order"] if len(unordered) else []
    counts = forecast.assign(period=forecast["timestamp"].dt.strftime("%Y-%m")).groupby(
        ["series", "target", "period"]).size()
    stated = months.set_index(["series", "target", "period"])["buckets"]
    out += [f"forecast_totals {k}: {stated[k]} buckets, forecast.csv has {counts.get(k)}" for k in stated.index
            if counts.get(k) != stated[k]]
    return out + _widening(months, lo, med, hi)


def _drivers(folder: Path, q: list[str]) -> list[str]:
    """forecast_drivers: each month's forecast is the sum of forecast.csv's P50s (a review's drivers had recomputed
    the model's output, 4% above a plan that had changed it since), its level times every driver's (1 + effect) is
    that forecast, and so is its level plus every driver's volume."""
    path = folder / "forecast_drivers.csv"
    drivers = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if drivers.empty:
        return []
    forecast = pd.read_csv(folder / "forecast.csv", parse_dates=["timestamp"])
    med, keys = q[len(q) // 2], ["series", "target", "period"]
    summed = forecast.assign(period=forecast["timestamp"].dt.strftime("%Y-%m")).groupby(keys)[med].sum()
    stated = drivers[drivers["kind"] == "total"].set_index(keys)["volume"]
    level = drivers[drivers["kind"] == "anchor"].set_index(keys)["volume"]
    effects = drivers[~drivers["kind"].isin(["total", "anchor"])]
    product = level * np.exp(np.log1p(effects["effect"]).groupby([effects[k] for k in keys]).sum())
    added = level + effects.groupby(keys)["volume"].sum()
    out = [f"forecast_drivers {k}: forecast {stated[k]:.6g} != forecast.csv's {med} summed {summed.get(k, 0):.6g}"
           for k in stated.index if _rel(stated[k], summed.get(k, 0.0)) > 1e-6]
    out += [f"forecast_drivers {k}: level x drivers {product.get(k, np.nan):.6g} != forecast {stated[k]:.6g}"
            for k in stated.index if not _rel(product.get(k, np.nan), stated[k]) <= 1e-6]
    return out + [f"forecast_drivers {k}: level + volumes {added.get(k, np.nan):.6g} != forecast {stated[k]:.6g}"
                  for k in stated.index if not _rel(added.get(k, np.nan), stated[k]) <= 1e-6]


def _widening(months: pd.DataFrame, lo: str, med: str, hi: str) -> list[str]:
    """A month's total is never relatively narrower than an earlier whole month's (a month the forecast
    starts partway into, under 90% of the longest month's buckets, sets no width for later ones)."""
    out = []
    for (series, target), rows in months.sort_values("period").groupby(["series", "target"]):
        rows = rows[rows[med] > 0]
        widest_up = widest_down = 0.0
        for row in rows.itertuples():
            up, down = getattr(row, hi) / getattr(row, med), getattr(row, med) / max(getattr(row, lo), 1e-12)
            if up < widest_up * (1 - 1e-3) or down < widest_down * (1 - 1e-3):
                out.append(f"forecast_totals {series} {target} {row.period}: narrower than an earlier month")
            if row.buckets >= 0.9 * rows["buckets"].max():
                widest_up, widest_down = max(widest_up, up), max(widest_down, down)
    return out


def _costs(folder: Path, q: list[str]) -> list[str]:
    """cost_forecast = tokens x the official route's rates; months add to the horizon; route_costs' baseline
    = cost_forecast."""
    totals = pd.read_csv(folder / "forecast_totals.csv")
    costs = pd.read_csv(folder / "cost_forecast.csv")
    rates = pd.read_csv(folder / "route_rates.csv")
    med = q[len(q) // 2]
    official = rates[rates["route"] == BASELINE].set_index(["series", "period", "token_type"])["usd_per_mtok"]
    tokens = totals[totals["target"].isin(TOKEN_TYPES)].rename(columns={"target": "token_type"})
    priced = tokens.join(official, on=["series", "period", "token_type"], how="inner")
    by_month = (priced[med] * priced["usd_per_mtok"] / 1e6).groupby([priced["series"], priced["period"]]).sum()
    monthly = costs[costs["period"] != "horizon"].set_index(["series", "period"])[med]
    out = [f"cost_forecast {k}: {med} ${monthly[k]:,.2f} != tokens x official rates ${by_month.get(k, 0):,.2f}"
           for k in monthly.index if _rel(monthly[k], by_month.get(k, 0.0)) > 1e-3]
    months = costs[costs["period"] != "horizon"].groupby("series")[q].sum()
    whole = costs[costs["period"] == "horizon"].set_index("series")[q].reindex(months.index)
    lo, hi = q[0], q[-1]
    out += [f"cost_forecast {s}: months' {med} ${months.loc[s, med]:,.2f} != horizon ${whole.loc[s, med]:,.2f}"
            for s in months.index if _rel(months.loc[s, med], whole.loc[s, med]) > 5e-3]
    # Quantiles do not add: the horizon's interval lies inside the months' summed bounds.
    out += [f"cost_forecast {s}: horizon {lo}-{hi} outside the months' summed bounds" for s in months.index
            if whole.loc[s, lo] < months.loc[s, lo] * (1 - 1e-6) or whole.loc[s, hi] > months.loc[s, hi] * (1 + 1e-6)]
    routes = pd.read_csv(folder / "route_costs.csv")
    base = routes[routes["route"] == BASELINE].merge(costs, left_on=["model", "period"], right_on=["series", "period"],
                                                     suffixes=("_route", "_cost"))
    out += [f"route_costs {BASELINE} {r.model} {r.period}: {name} differs from cost_forecast"
            for r in base.itertuples() for name in q
            if _rel(getattr(r, f"{name}_route"), getattr(r, f"{name}_cost")) > 1e-6]
    return out


_HEADLINE = re.compile(r"^\| \*\*cost \(USD, list prices\)\*\* \| \*\*\$([\d,]+)\*\* \|", re.MULTILINE)


def _printed_usd(match: re.Match | None) -> float | None:
    return float(match.group(1).replace(",", "")) if match else None


def headline_cost_disagreements(text: str, costs: pd.DataFrame, routes: pd.DataFrame, median: str) -> list[str]:
    """The summary's cost (``report.md``, as printed to the dollar) against cost_forecast's horizon and the route
    table's baseline row: one quantity, one value (a price that doubled inside the horizon once priced the
    headline at the first day's rate while the route table paid the new one)."""
    horizon = float(costs.loc[costs["period"] == "horizon", median].sum())
    base = routes[(routes["route"] == BASELINE) & (routes["period"] == "horizon")][median].sum()
    out = [f"cost_forecast horizon {median} ${horizon:,.2f} != route_costs {BASELINE} ${base:,.2f}"] \
        if _rel(horizon, base) > 1e-6 else []
    stated = _printed_usd(_HEADLINE.search(text))
    if stated is not None and abs(stated - horizon) > 0.5 + 1e-9:
        out.append(f"report.md summary cost ${stated:,.0f} != cost_forecast horizon {median} ${horizon:,.2f}")
    row = _printed_usd(re.search(rf"^\| {BASELINE} \| \$([\d,]+) \(", text, re.MULTILINE))
    if row is not None and abs(row - base) > 0.5 + 1e-9:
        out.append(f"report.md cost per route {BASELINE} ${row:,.0f} != route_costs ${base:,.2f}")
    return out


def _headline(folder: Path, q: list[str]) -> list[str]:
    """report.md's summary cost and its route table's baseline row = cost_forecast's horizon = route_costs'."""
    report = folder / "report.md"
    if not report.exists():
        return []
    return headline_cost_disagreements(report.read_text(), pd.read_csv(folder / "cost_forecast.csv"),
                                       pd.read_csv(folder / "route_costs.csv"), q[len(q) // 2])


def _bucket_width(month: pd.Series) -> pd.Timedelta:
    """A bucket's width from a period's first and last bucket starts and its bucket count (a day for one)."""
    return (month.end - month.start) / (month.buckets - 1) if month.buckets > 1 else pd.Timedelta(days=1)


def _roi(folder: Path, q: list[str]) -> list[str]:
    """roi_cashflow's forecast months save the baseline's cost less the route's; cumulative sums add up; the
    payback month is where the cumulative saving covers the one-time cost."""
    routes = pd.read_csv(folder / "route_costs.csv")
    flow = pd.read_csv(folder / "roi_cashflow.csv")
    summary = pd.read_csv(folder / "roi_summary.csv")
    med = q[len(q) // 2]
    by = routes[routes["period"] != "horizon"].groupby(["route", "period"])[q].sum()
    # A month the forecast covers in part counts as the whole month (its cost per bucket times its buckets).
    months = pd.read_csv(folder / "forecast_totals.csv", parse_dates=["start", "end"])
    months = months[months["period"] != "horizon"].groupby("period").agg(
        start=("start", "min"), end=("end", "max"), buckets=("buckets", "max"))
    whole = {p: pd.Period(p, "M").days_in_month * pd.Timedelta(days=1) / _bucket_width(r) / r.buckets
             for p, r in months.iterrows()}
    out = []
    for row in flow[~flow["extrapolated"].astype(bool)].itertuples():
        if (row.route, row.period) not in by.index:
            continue
        base = by.loc[(BASELINE, row.period)]
        scale = whole.get(row.period, 1.0)
        expected = sorted((base[name] - by.loc[(row.route, row.period), name]) * scale for name in q)
        for name, value in zip(q, expected, strict=True):
            if abs(getattr(row, f"saving_{name}") - value) > 1e-3 * max(abs(base[med]), 1.0):
                out.append(f"roi_cashflow {row.route} {row.period}: saving_{name} != baseline - route ({value:,.2f})")
    for route, rows in flow.sort_values("month").groupby("route"):
        for name in q:
            if not np.allclose(rows[f"saving_{name}"].cumsum(), rows[f"cumulative_{name}"], rtol=1e-6, atol=1e-6):
                out.append(f"roi_cashflow {route}: cumulative_{name} is not the running sum of saving_{name}")
        one = summary[summary["route"] == route]
        if one.empty:
            continue
        net = rows[f"cumulative_{med}"].to_numpy() - float(one["one_time_cost_usd"].iloc[0])
        mine = int(rows["month"].to_numpy()[np.argmax(net >= 0)]) if (net >= 0).any() else None
        stated = one[f"payback_month_{med}"].iloc[0]
        if (None if pd.isna(stated) else int(stated)) != mine:
            out.append(f"roi_summary {route}: payback month {stated} but the cumulative saving covers it in {mine}")
    return out


def _capacity(folder: Path) -> list[str]:
    """capacity_plan: the horizon's P50 and P90 at least every month's; P50 <= P90; headroom = 1 - P90/limit;
    a period has a crossing at a quantile exactly where its peak at that quantile is over the limit; a quantile
    history's spikes set names them and is above its value without them."""
    path = folder / "capacity_plan.csv"
    if not path.exists():
        return []
    plan = pd.read_csv(path)
    out = []
    for (group, metric), rows in plan.groupby(["model_group", "metric"]):
        whole, months = rows[rows["period"] == "horizon"], rows[rows["period"] != "horizon"]
        out += [f"capacity_plan {group} {metric}: horizon {name} below a month's" for name in ("p50", "p90")
                if len(whole) and len(months) and whole[name].iloc[0] < months[name].max() * (1 - 1e-9)]
    out += [f"capacity_plan: {int((plan['p50'] > plan['p90'] + 1e-9).sum())} rows with P50 above P90"] \
        if (plan["p50"] > plan["p90"] + 1e-9).any() else []
    for name in ("p50", "p90"):  # a quantile history's spikes set: below it without them, and they are named
        if f"{name}_without_spikes" not in plan:  # a report from before the plan named them
            continue
        set_by = plan[plan[f"{name}_without_spikes"].notna()]
        if ((set_by[f"{name}_without_spikes"] >= set_by[name]) | set_by["spike_days"].isna()).any():
            out.append(f"capacity_plan: a {name} set by history's spikes is not above its value without them, "
                       f"or names no day")
    limited = plan[plan["limit"].notna()]
    if len(limited) and ((1 - limited["p90"] / limited["limit"]) - limited["headroom_p90"]).abs().max() > 1e-6:
        out.append("capacity_plan: headroom_p90 is not 1 - p90 / limit")
    for row in limited.itertuples():
        for name in ("p50", "p90"):
            crossed, over = isinstance(getattr(row, f"first_crossing_{name}"), str), getattr(row, name) > row.limit
            if crossed != over:
                what = f"crossed at {name} under the limit" if crossed else f"{name} over the limit, no crossing"
                out.append(f"capacity_plan {row.model_group} {row.metric} {row.period}: {what}")
    return out


_HELD_BACK = re.compile(r"(\S+) (RPM|ITPM|OTPM|TPM) \S+ against its P90 peak (\d[\d,]*(?:\.\d+)?[KMBT]?)")
_HORIZON_ROW = re.compile(r"^\| (.+?) \| (RPM|ITPM|OTPM|TPM) \| horizon \| [^|]+ \| ([^|]+?) \|", re.MULTILINE)


def _held_back(text: str) -> tuple[dict[str, set[str]], dict[tuple[str, str], str], list[tuple[str, str, str]]]:
    """From a report's text: each group's models (undated), the capacity table's horizon P90 per group and metric
    as printed, and the gateway paragraph's held-back deployments (name, metric, P90 peak as printed)."""
    from tokenplan.planning.rate_limits import undated_model_id

    listed = re.search(r"Groups: (.*)", text)
    models = {g.strip(): {undated_model_id(m) for m in ids.split()}
              for g, ids in re.findall(r"(?:^|; )([^;(]+?) \(([^;)]+)", listed.group(1) if listed else "")}
    table = {(g, m): v.strip() for g, m, v in _HORIZON_ROW.findall(text)}
    held = next((line for line in text.splitlines() if "The gateway holds back these deployments" in line), "")
    return models, table, _HELD_BACK.findall(held.split("): ", 1)[-1])


def gateway_peak_disagreements(text: str, deployments: list[str]) -> list[str]:
    """The gateway paragraph's "P90 peak" of a group's only deployment against the capacity table's horizon P90
    of that group, as the report prints both (``text``: the report or its capacity section; ``deployments``: the
    gateway config's ``model_name``s): one quantity, so one value."""
    from tokenplan.planning.rate_limits import undated_model_id

    models, table, held = _held_back(text)
    out = []
    for name, metric, peak in held:
        model = undated_model_id(name.split(":")[0])
        group = [g for g, ids in models.items() if model in ids]
        members = [d for d in deployments if group and undated_model_id(d.split(":")[0]) in models[group[0]]]
        if len(group) == 1 and members == [name] and table.get((group[0], metric), peak) != peak:
            out.append(f"gateway {name} {metric}: P90 peak {peak}, but the capacity table's {group[0]} horizon P90 "
                       f"is {table[group[0], metric]} (the group's only deployment)")
    return out


_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _printed(value: str) -> float:
    """A number as the report prints it (``27.01K``, ``1,480``, ``1.67M``)."""
    found = re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)([KMBT]?)", value.strip())
    return float(found.group(1).replace(",", "")) * _SCALE[found.group(2)] if found else float("nan")


def member_peaks_above_group(text: str) -> list[str]:
    """The gateway paragraph's "P90 peak" of any deployment above the capacity table's horizon P90 of its group: a
    group's busiest minute is at least each member's, so its P90 is too."""
    from tokenplan.planning.rate_limits import undated_model_id

    models, table, held = _held_back(text)
    out = []
    for name, metric, peak in held:
        model = undated_model_id(name.split(":")[0])
        for group in (g for g, ids in models.items() if model in ids and (g, metric) in table):
            if _printed(peak) > _printed(table[group, metric]):
                out.append(f"gateway {name} {metric}: P90 peak {peak} above its group {group}'s horizon P90 "
                           f"{table[group, metric]} in the capacity table")
    return out


def _gateway(folder: Path) -> list[str]:
    """The gateway paragraph and the capacity table quote one P90 peak for a group of one deployment, and no
    deployment's P90 peak above its group's."""
    report, config = folder / "report.md", folder / "gateway" / "litellm_config.yaml"
    if not report.exists() or not config.exists():
        return []
    import yaml

    names = [e["model_name"] for e in (yaml.safe_load(config.read_text()) or {}).get("model_list", [])]
    text = report.read_text()
    return [*gateway_peak_disagreements(text, names), *member_peaks_above_group(text)]


# A level of organisation_forecast -> (its parent level, how many leading parts of a node name its parent).
_PARENTS = {"team": ("organisation", 0), "model": ("organisation", 0), "key": ("team", 1),
            "team_model": ("team", 1), "series": ("key", 2)}


def _organisation_levels(forecast: pd.DataFrame) -> list[str]:
    """organisation_forecast: each level's P50 adds up, per day, to its parent's; P10 <= P50 <= P90."""
    p50 = forecast.set_index(["level", "node", "ds"])["p50"]
    out = []
    for level, (parent, parts) in _PARENTS.items():
        rows = forecast[forecast["level"] == level]
        if rows.empty:
            continue
        parents = rows["node"].str.split("/").str[:parts].str.join("/") if parts else pd.Series(parent, rows.index)
        summed = rows.groupby([parents, rows["ds"]])["p50"].sum()
        stated = p50.loc[parent].reindex(summed.index)
        off = (summed - stated).abs() > 0.01
        out += [f"organisation_forecast: {level} P50 does not add up to {parent} {k} (${summed[k]:,.2f} vs "
                f"${stated[k]:,.2f})" for k in summed.index[off.to_numpy()][:5]]
    unordered = forecast[(forecast["p10"] > forecast["p50"] + 1e-9) | (forecast["p50"] > forecast["p90"] + 1e-9)]
    negative = forecast[(forecast[["p10", "p50", "p90"]] < 0).any(axis=1)]
    return (out + [f"organisation_forecast: {len(unordered)} rows with quantiles out of order"] * bool(len(unordered))
            + [f"organisation_forecast: {len(negative)} rows with spend below zero"] * bool(len(negative)))


def _team_spend(folder: Path, team_daily: pd.DataFrame) -> list[str]:
    """team_budgets' months, quarters and horizon = the team's daily P50 plus what was recorded before the
    forecast (a quarter or horizon within 0.5%: its own backtested total, scaled); chargeback's usage = the
    team's month plus what was recorded in it, the month's team_budgets P50; teams_at_risk repeats its team_budgets
    row."""
    budgets = pd.read_csv(folder / "team_budgets.csv")
    checked = budgets[budgets["spend_p50"].notna()].set_index(["team", "period"])
    months = team_daily.assign(period=team_daily["ds"].dt.strftime("%Y-%m")).groupby(["node", "period"])["p50"].sum()
    quarters = team_daily.groupby(["node", team_daily["ds"].dt.to_period("Q").astype(str).str.replace("Q", "-Q")])[
        "p50"].sum()
    horizon = team_daily.groupby("node")["p50"].sum()
    daily = pd.concat([months, quarters, pd.concat({"horizon": horizon}).swaplevel()])
    out = []
    for (team, period), value in daily.items():
        row = checked.loc[(team, period)]
        if abs(row["spend_p50"] - row["recorded_usd"] - value) > max(0.01, (5e-3 if len(period) != 7 else 0) * value):
            out.append(f"team_budgets {team} {period}: P50 ${row['spend_p50']:,.2f} less recorded "
                       f"${row['recorded_usd']:,.2f} != the team's daily P50 ${value:,.2f}")
    charge = pd.read_csv(folder / "chargeback.csv").set_index(["team", "period"])
    recorded = charge["recorded_usd"] if "recorded_usd" in charge.columns else pd.Series(0.0, index=charge.index)
    out += [f"chargeback {k}: usage ${charge.loc[k, 'usage_cost_usd']:,.2f} less recorded ${recorded[k]:,.2f} != the "
            f"team's month ${months[k]:,.2f}" for k in months.index
            if abs(charge.loc[k, "usage_cost_usd"] - recorded[k] - months[k]) > 0.01]
    out += [f"chargeback {k}: usage ${charge.loc[k, 'usage_cost_usd']:,.2f} != team_budgets' "
            f"${checked.loc[k, 'spend_p50']:,.2f}" for k in months.index if k in checked.index
            and abs(charge.loc[k, "usage_cost_usd"] - checked.loc[k, "spend_p50"]) > 0.01]
    out += [f"chargeback {k}: total != usage + flat" for k in charge.index
            if abs(charge.loc[k, "usage_cost_usd"] + charge.loc[k, "allocated_flat_usd"] - charge.loc[k, "total_usd"])
            > 1e-6]
    at_risk = pd.read_csv(folder / "teams_at_risk.csv").set_index(["team", "period"])
    out += [f"teams_at_risk {k}: {c} differs from team_budgets" for k in at_risk.index
            for c in ("spend_p50", "budget_usd", "p_exceed") if abs(at_risk.loc[k, c] - checked.loc[k, c]) > 1e-9]
    return out + _crossings(checked, team_daily)


def _crossings(checked: pd.DataFrame, team_daily: pd.DataFrame) -> list[str]:
    """A budget is crossed at P50 (P90) exactly when its period's P50 (P90) reaches it, on the first day the
    recorded spend plus the cumulative daily P50, scaled to end on the period's P50 (P90), reaches it."""
    out = []
    for (team, period), row in checked[checked["budget_usd"].notna()].iterrows():
        span = pd.Period(period.replace("-Q", "Q"), "Q" if "-Q" in period else "M")
        days = team_daily[(team_daily["node"] == team) & team_daily["ds"].between(span.start_time, span.end_time)]
        cumulative = days.sort_values("ds")["p50"].cumsum().to_numpy()
        if str(row.get("crossed_in_recorded", False)) == "True":  # reached in the recorded spend, before the forecast
            first = days["ds"].min()
            crossed = {row["first_crossing_p50"], row["first_crossing_p90"]}
            if row["recorded_usd"] < row["budget_usd"] - 1e-9 or len(crossed) != 1 or \
                    not span.start_time <= pd.Timestamp(crossed.pop()) < first:
                out.append(f"team_budgets {team} {period}: crossed in the recorded spend, but recorded "
                           f"${row['recorded_usd']:,.2f} against ${row['budget_usd']:,.0f} or the day is not recorded")
            continue
        for name in ("p50", "p90"):
            forecast_part = row[f"spend_{name}"] - row["recorded_usd"]
            path = row["recorded_usd"] + cumulative * (forecast_part / cumulative[-1] if cumulative[-1] > 0 else 1)
            hit = np.flatnonzero(path >= row["budget_usd"] - 1e-9)
            mine = days.sort_values("ds")["ds"].iloc[hit[0]].strftime("%Y-%m-%d") if hit.size else ""
            stated = row[f"first_crossing_{name}"] if isinstance(row[f"first_crossing_{name}"], str) else ""
            if mine != stated:
                out.append(f"team_budgets {team} {period}: crossed at {name} on {stated or 'no day'}, the path "
                           f"reaches ${row['budget_usd']:,.0f} on {mine or 'no day'}")
    return out


def _cost_table(folder: Path) -> list[str]:
    """A team's month and horizon P50 in team_budgets (less what was recorded before) = its live series' in
    cost_forecast: one quantity, one value (a reconciled forecast once moved a team's December by 8%)."""
    series = pd.read_csv(folder / "organisation_series.csv")
    live = series.loc[series["status"] != "ended", ["series", "team"]]
    costs = pd.read_csv(folder / "cost_forecast.csv").merge(live, on="series")
    expected = costs.groupby(["team", "period"])["p50"].sum()
    budgets = pd.read_csv(folder / "team_budgets.csv").set_index(["team", "period"])
    return [f"team_budgets {k}: P50 ${budgets.loc[k, 'spend_p50'] - budgets.loc[k, 'recorded_usd']:,.2f} less recorded "
            f"!= its series' ${v:,.2f} in cost_forecast" for k, v in expected.items()
            if k in budgets.index and abs(budgets.loc[k, "spend_p50"] - budgets.loc[k, "recorded_usd"] - v)
            > max(0.01, 1e-6 * v)]


def _ended_series(folder: Path) -> list[str]:
    """A series the organisation plans no spend for (ended: a retired key) has none in cost_forecast either."""
    series = pd.read_csv(folder / "organisation_series.csv")
    costs = pd.read_csv(folder / "cost_forecast.csv")
    ended = series.loc[series["status"] == "ended", "series"]
    priced = costs[(costs["period"] == "horizon") & costs["series"].isin(ended) & (costs["p50"] > 0.005)]
    return [f"cost_forecast {r.series}: ${r.p50:,.2f} over the horizon (P50) for a series the organisation plans "
            "no spend for" for r in priced.itertuples()]


def _organisation(folder: Path) -> list[str]:
    """The organisation tables, when the run has them: levels add up, teams' spend agrees in every table."""
    if not (folder / "organisation_forecast.csv").exists():
        return []
    forecast = pd.read_csv(folder / "organisation_forecast.csv", parse_dates=["ds"])
    return [*_organisation_levels(forecast), *_team_spend(folder, forecast[forecast["level"] == "team"]),
            *_cost_table(folder), *_ended_series(folder)]


def inconsistencies(folder: Path) -> list[str]:
    """Every identity the folder's tables break (module docstring); [] when they agree."""
    q = _quantiles(pd.read_csv(folder / "forecast_totals.csv", nrows=1))
    return [*_totals(folder, q), *_drivers(folder, q), *_costs(folder, q), *_headline(folder, q), *_roi(folder, q),
            *_capacity(folder), *_gateway(folder), *_organisation(folder)]
