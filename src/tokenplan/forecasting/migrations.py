"""Traffic moving from one model to its successor: forecast as one series, split by the latest shares.

A migration (``claude-sonnet-4`` to ``claude-sonnet-4-5``) leaves two series that each
hold part of one traffic's history: the old one falls while the new one rises. Forecast
apart, neither has a history its methods can read: a review's file (twelve weeks of one
traffic, moved over two weeks, 3% left on the old model) read the new model at a daily
P10 of 231 and P90 of 426K requests around 82K a day, the old one replaying the move's
week every week, a quarter's cost interval of $2,610 to $310,513 around $45,890, and the
Sonnet group's busiest minute at P50 2.64K against a history whose busiest was 523; the
fold that straddled the move widened every other model's intervals too (Opus's quarter
P10-P90 37K-838K against 202K-335K with the two merged).

So where a series' traffic has moved, the members (the old models and the new one) are
forecast as one series under the newest one's id, with the whole history of that
traffic behind it, and the forecast and its totals are split between the members by
their shares of each target over the history's last ``SHARE_DAYS`` days; a member
without usage in its last ``STOPPED_DAYS`` days gets none. The split multiplies every
quantile by the share, so the members add up to the traffic's forecast exactly. The
backtest, the method chosen and its intervals are the traffic's, under the newest id.
A migration still going on is held at the latest shares (one rate-limit group and,
within a family, mostly one price: the total is what matters); a planner who knows
where it ends maps the ids with ``ingestion.model_aliases`` instead.

A pair is a migration (``find_migrations``) where:

- their models differ and the rest of their series ids (a team, a key) agree; where the
  ids have no rest (a file of models alone), their family must agree too and not be
  empty (``H1`` and ``H2``, an id of digits alone, name no family;
  ``tokenplan.forecasting.successors.family``). One team's key moving from Sonnet to
  Haiku is one traffic (a review's team moved six days before the history's end was
  planned on both models, its month's budget ">99% likely over" against a spend that
  stayed under it); without a team or key, two families are two products more often
  than one;
- the new one's first day with usage is at least ``MIN_BEFORE_DAYS`` after the history
  starts and at most ``RECENT_DAYS`` before it ends, and after the old one's first;
- the old one was in use up to ``GAP_DAYS`` before the new one began, or after;
- the old one **fell**: over the last ``SHARE_DAYS`` days it ran at most ``FELL_RATIO``
  of its level over the ``LEVEL_DAYS`` days before the new one began (days without a
  row count as none: a usage export lists only what was used);
- it is **the same workload**: each token count per request of the new one over the last
  ``SHARE_DAYS`` days within a factor ``WORKLOAD_RATIO`` of the old one's before (a review's
  Haiku 3.5 winding down at 500 input tokens a request beside another product's Haiku 4.5
  ramping up at 1,500 had been merged, and the merged traffic's tokens jumped fourfold);
- the traffic **moved** rather than new traffic arriving: the two together over the last
  ``SHARE_DAYS`` days are within a factor ``LEVEL_RATIO`` of the old one's level before (with
  any model that took over from the new one since: a chain ``claude-3-5-sonnet`` to
  ``claude-sonnet-4`` to ``claude-sonnet-4-5`` is one traffic).

``feature_engineering.migrations: false`` forecasts every model on its own history.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tokenplan.forecasting.successors import family, level_target, split_series_id

__all__ = ["MIGRATION_COLUMNS", "combine_migrations", "describe", "find_and_share", "find_migrations",
           "join_migrations", "predecessors_rows", "split_migrations", "traffic_ids"]

MIN_BEFORE_DAYS = 28
RECENT_DAYS = 120
GAP_DAYS = 14
LEVEL_DAYS = 28
SHARE_DAYS = 7
STOPPED_DAYS = 3
FELL_RATIO = 0.5
LEVEL_RATIO = 1.5
WORKLOAD_RATIO = 1.5

# One row per member and target: ``series`` forecast as part of ``traffic`` (the newest member's id), with its
# ``share`` of the target; ``started``: the day the newest member began; ``before``/``now``: the traffic's level
# a day before it began (the old member's) and over the last days (all members'), of ``level_target``.
MIGRATION_COLUMNS = ["traffic", "series", "target", "share", "started", "before", "now", "level_target"]


@dataclass(frozen=True)
class _Active:
    first: pd.Timestamp
    last: pd.Timestamp


def _daily(history: pd.DataFrame, target: str) -> pd.DataFrame:
    """Days x series of ``target`` recorded (0 where a series has no row or nothing recorded that day)."""
    rows = history[history["target"].astype(str) == target]
    day = pd.to_datetime(rows["ds"]).dt.normalize()
    return rows.groupby([day.rename("day"), rows["series"].astype(str)])["y"].sum().unstack(fill_value=0.0)


def _moved(days: pd.DataFrame, old: str, new: list[str], started: pd.Timestamp,
           end: pd.Timestamp) -> tuple[float, float] | None:
    """The old series' level before ``started`` and its traffic's level over the last days (the old one's, the
    new one's and any that took over from the new one since: ``new``), where the old one fell and they together
    carry about what it carried; else None."""
    before = days.loc[(days.index < started) & (days.index >= started - pd.Timedelta(days=LEVEL_DAYS)), old]
    recent = days.loc[days.index > end - pd.Timedelta(days=SHARE_DAYS)]
    if before.empty or len(recent) < SHARE_DAYS or not before.mean() > 0:
        return None
    level, old_now = float(before.mean()), float(recent[old].mean())
    now = float(recent[[old, *new]].sum(axis=1).mean())
    fell = old_now <= FELL_RATIO * level
    moved = level / LEVEL_RATIO <= now <= level * LEVEL_RATIO
    return (level, now) if fell and moved else None


def _same_workload(tables: dict[str, pd.DataFrame], level: str, old: str, new: str, started: pd.Timestamp,
                   end: pd.Timestamp) -> bool:
    """Whether each token count per ``level`` unit (a request) of ``new`` over the last ``SHARE_DAYS`` days is
    within ``WORKLOAD_RATIO`` of ``old``'s over the ``LEVEL_DAYS`` days before ``started`` (a count either lacks
    says nothing)."""
    def per_unit(table: pd.DataFrame, series: str, first: pd.Timestamp, last: pd.Timestamp) -> float:
        units = tables[level]
        inside = (table.index >= first) & (table.index <= last)
        done = units.loc[(units.index >= first) & (units.index <= last), series].sum() if series in units else 0.0
        return float(table.loc[inside, series].sum() / done) if series in table and done > 0 else float("nan")

    window_old = (started - pd.Timedelta(days=LEVEL_DAYS), started - pd.Timedelta(days=1))
    window_new = (end - pd.Timedelta(days=SHARE_DAYS - 1), end)
    for target, table in tables.items():
        if target == level:
            continue
        was, now = per_unit(table, old, *window_old), per_unit(table, new, *window_new)
        if was > 0 and now > 0 and max(was, now) > WORKLOAD_RATIO * min(was, now):
            return False
    return True


def find_migrations(history: pd.DataFrame) -> list[dict]:
    """Each migration: ``old`` and ``new`` series ids, the day ``started`` the new one began and the ``levels``
    (the old one's a day before, both now) of ``target``; ``history``: ``series, target, ds, y``.
    Newest first; a series is the old one of one migration at most (the latest that fits)."""
    if history is None or history.empty:
        return []
    target = level_target(history)
    tables = {t: _daily(history, t) for t in sorted(history["target"].astype(str).unique())}
    days = tables[target]
    if days.empty:
        return []
    start, end = days.index.min(), days.index.max()
    used = days.gt(0)
    active = {s: _Active(used.index[used[s]].min(), used.index[used[s]].max()) for s in days.columns if used[s].any()}
    found, taken, later = [], set(), {}  # later: the series that took over from a series since, newest last
    for new, span in sorted(active.items(), key=lambda kv: kv[1].first, reverse=True):
        if (span.first - start).days < MIN_BEFORE_DAYS or (end - span.first).days > RECENT_DAYS:
            continue
        (new_model, new_rest), fits = split_series_id(new), []
        for old, was in active.items():
            old_model, old_rest = split_series_id(old)
            related = old_model != new_model and old_rest == new_rest and (
                old_rest != "" or family(old_model) == family(new_model) != "")
            near = was.first < span.first and (span.first - was.last).days <= GAP_DAYS
            if related and near and old not in taken and _same_workload(tables, target, old, new, span.first, end) \
                    and (levels := _moved(days, old, [new, *later.get(new, [])], span.first, end)):
                fits.append((levels[0], old, levels))
        if fits:
            _, old, levels = max(fits)
            taken.add(old)
            later[old] = [new, *later.get(new, [])]
            found.append({"old": old, "new": new, "started": span.first, "levels": levels, "target": target})
    return found


def _traffic_of(found: list[dict]) -> dict[str, str]:
    """Each member's traffic id: the newest member of its chain (an old one's new one, followed)."""
    newer = {m["old"]: m["new"] for m in found}
    out = {}
    for series in {*newer, *newer.values()}:
        head = series
        while head in newer:
            head = newer[head]
        out[series] = head
    return out


def _shares(history: pd.DataFrame, members: dict[str, str]) -> pd.DataFrame:
    """``traffic, series, target, share``: each member's share of its traffic's target over the last
    ``SHARE_DAYS`` days; a member unused in its last ``STOPPED_DAYS`` days gets none, and a traffic whose
    members recorded nothing of a target then shares it like its level target."""
    end = pd.to_datetime(history["ds"]).max().normalize()
    rows = history[history["series"].isin(list(members))].copy()
    rows["traffic"] = rows["series"].map(members)
    day = pd.to_datetime(rows["ds"]).dt.normalize()
    last_used = day[rows["y"] > 0].groupby(rows["series"]).max()
    stopped = [s for s in members if not (end - last_used.get(s, pd.Timestamp.min)).days < STOPPED_DAYS]
    recent = rows[(day > end - pd.Timedelta(days=SHARE_DAYS)) & ~rows["series"].isin(stopped)]
    sums = recent.groupby(["traffic", "series", "target"])["y"].sum()
    grid = pd.MultiIndex.from_tuples([(members[s], s, t) for s in members for t in sorted(rows["target"].unique())],
                                     names=["traffic", "series", "target"])
    sums = sums.reindex(grid, fill_value=0.0)
    totals = sums.groupby(level=["traffic", "target"]).transform("sum")
    share = (sums / totals.where(totals > 0)).rename("share").reset_index()
    fallback = share[share["target"] == level_target(history)].set_index("series")["share"]
    share["share"] = share["share"].fillna(share["series"].map(fallback)).fillna(
        (share["series"] == share["traffic"]).astype(float))
    return share


def find_and_share(history: pd.DataFrame) -> pd.DataFrame:
    """The migrations table (``MIGRATION_COLUMNS``) of ``history`` (``series, target, ds, y``); empty where none."""
    found = find_migrations(history)
    if not found:
        return pd.DataFrame(columns=MIGRATION_COLUMNS)
    members = _traffic_of(found)
    shares = _shares(history, members)
    about = {}
    for m in found:
        traffic = members[m["new"]]
        about.setdefault(traffic, {"started": m["started"], "before": m["levels"][0], "now": m["levels"][1],
                                   "level_target": m["target"]})
    info = pd.DataFrame.from_dict(about, orient="index").rename_axis("traffic").reset_index()
    return shares.merge(info, on="traffic")[MIGRATION_COLUMNS].sort_values(["traffic", "series", "target"],
                                                                           ignore_index=True)


def traffic_ids(migrations: pd.DataFrame | None) -> dict[str, str]:
    """``{series: its traffic's id}`` of the migrations table (``MIGRATION_COLUMNS``); empty for None or none.
    Every function here takes None for no migrations."""
    if migrations is None or migrations.empty:
        return {}
    return dict(zip(migrations["series"].astype(str), migrations["traffic"].astype(str), strict=False))


def combine_migrations(history: pd.DataFrame, migrations: pd.DataFrame | None) -> pd.DataFrame:
    """``history`` with each migration's members summed into one series under its traffic's id (a bucket missing
    where any member recorded it as missing between its first and last complete buckets; a member without a
    row, or an incomplete bucket at its edges, adds nothing)."""
    members = traffic_ids(migrations)
    if not members:
        return history
    moved = history["series"].isin(list(members))
    rows = history[moved]
    # A member's incomplete buckets before its first complete one or after its last (a model's first, partial
    # day) are its edges, not a gap: the traffic's bucket is the others' there.
    known = rows["ds"].where(rows["y"].notna())
    span = known.groupby([rows["series"], rows["target"]], observed=True).agg(["min", "max"])
    edges = span.reindex(pd.MultiIndex.from_arrays([rows["series"], rows["target"]])).to_numpy()
    inside = (rows["ds"].to_numpy() >= edges[:, 0]) & (rows["ds"].to_numpy() <= edges[:, 1])
    rows = rows.assign(series=rows["series"].map(members))
    keys = ["series", "target", "ds"]
    grouped = rows.assign(missing=rows["y"].isna() & inside).groupby(keys, observed=True)
    sums = grouped[["y", "missing"]].sum()
    summed = sums["y"].where(sums["missing"] == 0).rename("y").reset_index()
    out = pd.concat([history[~moved], summed], ignore_index=True)
    return out.sort_values(keys).reset_index(drop=True)


def split_migrations(frame: pd.DataFrame, migrations: pd.DataFrame | None, values: list[str]) -> pd.DataFrame:
    """``frame`` (``series, target, ...`` with ``values`` columns) with each traffic's rows split into its members'
    by their shares: every value times the member's share, so the members add up to the traffic. A member whose
    shares are all zero gets no rows."""
    if not traffic_ids(migrations) or frame.empty:
        return frame
    live = migrations[migrations.groupby("series")["share"].transform("max") > 0]
    moved = frame["series"].isin(set(migrations["traffic"]))
    parts = frame[moved].rename(columns={"series": "traffic"}).merge(
        live[["traffic", "series", "target", "share"]], on=["traffic", "target"])
    parts[values] = parts[values].to_numpy(dtype=float) * parts[["share"]].to_numpy()
    parts = parts.drop(columns=["traffic", "share"])[frame.columns]
    return pd.concat([frame[~moved], parts], ignore_index=True)


def join_migrations(frame: pd.DataFrame, migrations: pd.DataFrame | None, values: list[str]) -> pd.DataFrame:
    """The inverse of :func:`split_migrations`: each traffic's members' rows summed back under the traffic's id
    (other columns from the traffic's own member, the newest)."""
    members = traffic_ids(migrations)
    if not members or frame.empty:
        return frame
    moved = frame["series"].isin(list(members))
    rows = frame[moved].assign(series=frame.loc[moved, "series"].map(members))
    keys = [c for c in frame.columns if c not in values and c not in ("step", "origin", "method")]
    own = frame[moved & (frame["series"] == frame["series"].map(members))]
    summed = rows.groupby(keys, sort=False, dropna=False)[values].sum().reset_index()
    rest = [c for c in frame.columns if c not in summed.columns]
    if rest:
        summed = summed.merge(own[[*keys, *rest]], on=keys, how="left")
    out = pd.concat([frame[~moved], summed[frame.columns]], ignore_index=True)
    out.attrs = dict(frame.attrs)
    return out


def describe(migrations: pd.DataFrame | None) -> list[dict]:
    """One dict per traffic for the report: ``traffic``, ``members`` (``{series: share of the level target}``,
    newest first), ``started``, ``before``, ``now``, ``level_target``."""
    out = []
    if not traffic_ids(migrations):
        return out
    for traffic, rows in migrations.groupby("traffic", sort=False):
        level = rows[rows["target"] == rows["level_target"].iloc[0]]
        shares = dict(zip(level["series"], level["share"], strict=False))
        first = rows.iloc[0]
        members = {traffic: shares.get(traffic, 0.0), **{s: v for s, v in shares.items() if s != traffic}}
        out.append({"traffic": traffic, "members": members, "started": pd.Timestamp(first["started"]),
                    "before": float(first["before"]), "now": float(first["now"]),
                    "level_target": first["level_target"]})
    return out



def predecessors_rows(rows: pd.DataFrame, migrations: pd.DataFrame | None, unit: str = "unit",
                      day: str = "ds") -> pd.DataFrame:
    """``rows`` (keyed by series id in ``unit``) of each migration's older members on the days before the newest
    one began, relabelled as the newest (the traffic): what the newest member's own short history lacks.

    A capacity plan draws a series' busiest-minute ratios from its own days: a model that took over a team's traffic
    three weeks before the end drew them from its 21 days, one of them a burst 74 times its mean minute, and
    planned a P50 busiest minute of 1,961 requests against 846 in its history (its group's floor, and its key's
    gateway limit, with it); its traffic's 54 days before, on the old model, are the same workload's."""
    if migrations is None or migrations.empty or rows.empty:
        return rows.iloc[:0]
    first = migrations.drop_duplicates("series")
    parts = []
    for traffic, members in first.groupby("traffic"):
        started = pd.Timestamp(members["started"].iloc[0])
        older = rows[rows[unit].isin(set(members["series"]) - {traffic})]
        days = pd.to_datetime(older[day])
        started = started.tz_localize(days.dt.tz) if days.dt.tz is not None and started.tzinfo is None else started
        parts.append(older[(days < started).to_numpy()].assign(**{unit: traffic}))
    return pd.concat(parts, ignore_index=True) if parts else rows.iloc[:0]
