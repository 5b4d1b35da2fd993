"""Seeded simulator of a team's hourly Anthropic Claude API usage, with known truth.

The simulator is tokenplan's embedded demo data: forecasts can be scored against the
noise-free mean the data was drawn from, and the future window holds the truth a
forecast should reach.

Generative model
----------------
For every model profile (``claude-sonnet-4-5`` chat, ``claude-opus-4-5`` coding agent,
``claude-haiku-4-5`` batch) and every UTC hour ``t`` of the window
``[history_end - history_days, history_end + future_days)``:

1. **Interactive mean** (requests per hour)::

       base(t) = peak_requests_per_hour
                 * hour_weights[local hour]        # daily cycle in the team's time zone, DST included
                 * day factor                      # 1 on weekdays, weekend_factor, holiday_factor
                 * (1 + monthly_growth * growth_scale) ** months_since_start
                 * product of event multipliers    # campaigns and launches active at t

2. **Batch jobs** (profiles with :class:`BatchJobs`): jobs start as a Poisson process
   whose hourly rate follows ``start_hour_weights`` (mostly at night), at a uniform
   minute, last a uniform number of minutes and send a steady, gamma-distributed number
   of requests per minute (which grows and follows launches like the interactive mean).
   Jobs ignore weekends and holidays. Their mean contribution to each hour is computed
   exactly, spill-over into the next hour included.

3. **Expected** requests = interactive mean + mean batch requests. Expected tokens of
   each kind = expected requests * the profile's mean tokens per request.

4. **Realisation.** Each local day gets a mean-one lognormal shock (``daily_noise``)
   on the interactive mean. Each minute's request count is negative binomial around the
   minute-level mean (interactive / 60 + active batch jobs), with shape
   ``minute_dispersion`` (large = near-Poisson, small = bursty). The tokens of a minute
   with ``n`` requests are Gamma(n / cv**2, mean_size * cv**2), i.e. exactly the sum of
   ``n`` gamma-sized requests, rounded to whole tokens. Hourly counts are the sums of
   the 60 minutes and ``peak_*`` columns are their maxima, so peaks and sums agree.

5. **Peak truth.** The busiest minute of each future UTC day is also replayed
   ``peak_replays`` times from the same generative model (fresh day shocks, batch jobs,
   minute counts and request sizes) on a random stream of its own, so ``usage`` and
   ``truth`` are drawn exactly as without it. ``peaks`` holds, per future day, model and
   metric (``rpm``, ``itpm`` = uncached input + cache writes, ``otpm``), draw 0 = the
   realised day (the one in ``truth``) and draws 1..n the replays: quantiles over the
   replays are the true distribution of the daily peak a capacity plan should reach.
   Replays skip hours whose busiest expected minute is under ``_REPLAY_HOUR_SHARE`` of
   the day's busiest: they practically never hold the day's peak.

6. **Outage.** During the one past outage no minute is recorded: those hours are absent
   from ``usage`` and ``actual`` is NaN in ``truth``; ``expected`` keeps the traffic
   that would have been served.

``expected`` is therefore the mean over all randomness (minute arrivals, day shocks and
batch-job timing) given the calendar, growth and the listed events: the best forecast
any model could make. Random streams are seeded per model (``seed`` and model id), so
restricting ``models`` leaves the remaining models' data unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np
import pandas as pd

__all__ = ["SIMULATOR_VERSION", "TARGETS", "SimulatorConfig", "Simulation", "Workspace", "simulate"]

# Bump when the same config would produce different frames (columns, draws), so that
# materialised demo data (tokenplan.datasets.DemoTrafficDataset) is re-simulated.
SIMULATOR_VERSION = 3

TARGETS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "output_tokens",
)
TOKEN_TARGETS: tuple[str, ...] = TARGETS[1:]
PEAK_COLUMNS: tuple[str, ...] = ("peak_rpm", "peak_itpm", "peak_otpm")
USAGE_COLUMNS: tuple[str, ...] = ("timestamp", "model", *TARGETS, *PEAK_COLUMNS)
EVENT_COLUMNS: tuple[str, ...] = ("start", "end", "name", "kind", "scope", "effect")
TRUTH_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "model",
    "target",
    "expected",
    "actual",
    "is_future",
)
EVENT_KINDS: tuple[str, ...] = ("campaign", "launch", "holiday", "outage")
PEAK_TRUTH_COLUMNS: tuple[str, ...] = ("timestamp", "model", "metric", "draw", "peak")
# Replays draw only the hours whose busiest expected minute reaches this share of the
# day's busiest expected minute (the peak is practically never elsewhere; 3x faster).
_REPLAY_HOUR_SHARE = 0.4

_MINUTES_PER_HOUR = 60
_HOURS_PER_MONTH = 24 * 365.25 / 12


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class TokenSizes:
    """Mean tokens per request of each kind, and how much one request's size varies.

    ``input_tokens`` is uncached input. ``request_cv`` is the coefficient of variation
    of a single request's token count (gamma distributed), shared by all kinds.
    """

    input_tokens: float
    cache_write_tokens: float
    cache_read_tokens: float
    output_tokens: float
    request_cv: float

    def mean(self, target: str) -> float:
        """Mean tokens per request for a token target name."""
        return float(getattr(self, target))


@dataclass(frozen=True)
class BatchJobs:
    """Spiky batch jobs added on top of a model's interactive traffic.

    ``jobs_per_day``: mean jobs started per day. ``start_hour_weights``: 24 relative
    weights of the local start hour. A job starts at a uniform minute of its hour, lasts
    a uniform whole number of minutes in ``[min_minutes, max_minutes]`` (at most 60) and
    sends ``requests_per_minute`` on average at the history start (gamma across jobs
    with coefficient of variation ``rate_cv``), scaled by growth and launches.
    """

    jobs_per_day: float
    start_hour_weights: tuple[float, ...]
    min_minutes: int
    max_minutes: int
    requests_per_minute: float
    rate_cv: float


@dataclass(frozen=True)
class ModelProfile:
    """Traffic shape of one model, in the team's local time.

    ``peak_requests_per_hour``: interactive requests in a weekday peak hour at the
    history start. ``hour_weights``: 24 local-hour weights, peak = 1.
    ``weekend_factor`` / ``holiday_factor``: day multipliers (a holiday on a weekend
    takes the smaller). ``monthly_growth``: multiplicative growth per month (30.44 days)
    before ``growth_scale``. ``minute_dispersion``: negative-binomial shape of minute
    counts (large = Poisson, ~2 gives a per-minute peak/mean near 3.9).
    ``daily_noise``: sigma of the mean-one lognormal shock per local day.
    """

    model: str
    peak_requests_per_hour: float
    hour_weights: tuple[float, ...]
    weekend_factor: float
    holiday_factor: float
    monthly_growth: float
    minute_dispersion: float
    daily_noise: float
    sizes: TokenSizes
    batch: BatchJobs | None = None


# Chat: office-hours cycle with the night at 5% of the afternoon peak (BurstGPT),
# conversation sizes from the Azure 2023 trace, near-Poisson arrivals.
_SONNET = ModelProfile(
    model="claude-sonnet-4-5",
    peak_requests_per_hour=1_500.0,
    hour_weights=(
        0.08, 0.06, 0.05, 0.05, 0.05, 0.06, 0.10, 0.20, 0.40, 0.65, 0.80, 0.88,
        0.85, 0.95, 1.00, 1.00, 0.95, 0.80, 0.60, 0.45, 0.35, 0.25, 0.17, 0.11,
    ),  # fmt: skip
    weekend_factor=0.5,
    holiday_factor=0.5,
    monthly_growth=0.04,
    minute_dispersion=50.0,
    daily_noise=0.08,
    sizes=TokenSizes(
        input_tokens=1_155.0,
        cache_write_tokens=150.0,
        cache_read_tokens=900.0,
        output_tokens=211.0,
        request_cv=1.0,
    ),
)

# Coding agent: working hours, weekday peaks ~3.5x the weekly mean, troughs ~10x
# below the peak, weekends 0.3x (Azure 2024); Mooncake-like 12K-token inputs with
# 40% cache reads; bursty minutes.
_OPUS = ModelProfile(
    model="claude-opus-4-5",
    peak_requests_per_hour=250.0,
    hour_weights=(
        0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.11, 0.20, 0.55, 0.90, 1.00,
        0.65, 0.85, 1.00, 0.95, 0.70, 0.40, 0.20, 0.15, 0.12, 0.11, 0.10, 0.10,
    ),  # fmt: skip
    weekend_factor=0.3,
    holiday_factor=0.3,
    monthly_growth=0.06,
    minute_dispersion=2.0,
    daily_noise=0.12,
    sizes=TokenSizes(
        input_tokens=6_000.0,
        cache_write_tokens=1_200.0,
        cache_read_tokens=4_800.0,
        output_tokens=350.0,
        request_cv=1.5,
    ),
)

# Batch-heavy: a weak interactive cycle plus a couple of large jobs a day, mostly at
# night; Azure 2023 "code" sizes (2,048 in / 28 out), little caching.
_HAIKU = ModelProfile(
    model="claude-haiku-4-5",
    peak_requests_per_hour=400.0,
    hour_weights=(
        0.60, 0.60, 0.60, 0.60, 0.60, 0.62, 0.65, 0.70, 0.80, 0.90, 0.95, 1.00,
        1.00, 1.00, 1.00, 0.98, 0.95, 0.90, 0.80, 0.75, 0.70, 0.65, 0.62, 0.60,
    ),  # fmt: skip
    weekend_factor=0.85,
    holiday_factor=0.85,
    monthly_growth=0.03,
    minute_dispersion=5.0,
    daily_noise=0.08,
    sizes=TokenSizes(
        input_tokens=2_048.0,
        cache_write_tokens=20.0,
        cache_read_tokens=60.0,
        output_tokens=28.0,
        request_cv=0.8,
    ),
    batch=BatchJobs(
        jobs_per_day=1.5,
        start_hour_weights=(
            3.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0, 0.3, 0.2, 0.2, 0.2, 0.2,
            0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0,
        ),  # fmt: skip
        min_minutes=15,
        max_minutes=60,
        requests_per_minute=80.0,
        rate_cv=0.5,
    ),
)

DEFAULT_PROFILES: dict[str, ModelProfile] = {p.model: p for p in (_SONNET, _OPUS, _HAIKU)}


@dataclass(frozen=True)
class Workspace:
    """One team's workspace in a simulated organisation (``SimulatorConfig.workspaces``).

    ``share`` multiplies each of its models' traffic (interactive peak and batch job
    rate); ``monthly_growth`` replaces the model profiles' growth, so each team grows at
    its own pace. ``models``: the models it uses (None = all selected). Its traffic is
    split evenly over ``api_keys``. ``created``: the UTC day its traffic starts (a team
    created during the history; None = from the start); ``rotated``: the UTC day its
    first key is replaced by ``<key>-rotated`` (a rotated key: the old one stops).
    """

    name: str
    share: float = 1.0
    monthly_growth: float = 0.04
    models: tuple[str, ...] | None = None
    api_keys: tuple[str, ...] = ("default",)
    created: str | None = None
    rotated: str | None = None

    def __post_init__(self) -> None:
        for name in ("models", "api_keys"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not self.name or "/" in self.name:
            raise ValueError(f"workspace name must be non-empty without '/', got {self.name!r}")
        if not (np.isfinite(self.share) and self.share > 0):
            raise ValueError(f"workspace {self.name!r}: share must be > 0, got {self.share!r}")
        if not (np.isfinite(self.monthly_growth) and self.monthly_growth > -1):
            raise ValueError(f"workspace {self.name!r}: monthly_growth must be > -1, got {self.monthly_growth!r}")
        if not self.api_keys or any("/" in k for k in self.api_keys):
            raise ValueError(f"workspace {self.name!r}: api_keys must be names without '/', got {self.api_keys!r}")


@dataclass(frozen=True)
class _Stream:
    """One simulated series: a model's profile as used by one workspace's API key."""

    profile: ModelProfile
    workspace: str | None = None
    api_key: str | None = None
    active_from: pd.Timestamp | None = None
    active_until: pd.Timestamp | None = None

    @property
    def seed_label(self) -> str | None:
        return None if self.workspace is None else f"{self.workspace}/{self.api_key}"

    @property
    def labels(self) -> dict[str, str]:
        """The dimension columns of this stream's rows (none for the single-team default)."""
        return {} if self.workspace is None else {"workspace": self.workspace, "api_key": self.api_key}


# ---------------------------------------------------------------------- event plan


@dataclass(frozen=True)
class _PlannedEvent:
    """A campaign, launch or outage placed relative to the simulation window.

    ``window`` is "history" or "future"; the event starts on the first ``weekday``
    (0 = Monday) on or after ``at_fraction`` of that window, at ``local_hour`` in the
    team's time zone (UTC for outages). It lasts ``days`` local days, or ``hours`` hours,
    or (both None) until the end of the simulation, as a launch's step change does.
    Traffic of ``scope`` ("" = all models) is multiplied by ``multiplier`` while active;
    outages remove it.
    """

    name: str
    kind: str
    scope: str
    window: str
    at_fraction: float
    weekday: int
    local_hour: int = 0
    days: int | None = None
    hours: int | None = None
    multiplier: float = 1.0


_EVENT_PLAN: tuple[_PlannedEvent, ...] = (
    _PlannedEvent("Product Hunt promo", "campaign", _SONNET.model, "history", 0.12, 0, days=7, multiplier=1.5),
    _PlannedEvent("Haiku batch pipeline launch", "launch", _HAIKU.model, "history", 0.30, 1, local_hour=9, multiplier=1.4),
    _PlannedEvent("Newsletter campaign", "campaign", _SONNET.model, "history", 0.38, 0, days=10, multiplier=1.35),
    _PlannedEvent("Agent product launch", "launch", _OPUS.model, "history", 0.55, 1, local_hour=9, multiplier=2.0),
    _PlannedEvent("Referral campaign", "campaign", _SONNET.model, "history", 0.64, 0, days=5, multiplier=1.6),
    _PlannedEvent("API provider outage", "outage", "", "history", 0.72, 2, local_hour=14, hours=5),
    _PlannedEvent("Conference campaign", "campaign", _SONNET.model, "history", 0.86, 0, days=7, multiplier=1.45),
    _PlannedEvent("Partner campaign (planned)", "campaign", _SONNET.model, "future", 0.30, 0, days=10, multiplier=1.6),
    _PlannedEvent("Agent v2 launch (planned)", "launch", _OPUS.model, "future", 0.60, 1, local_hour=9, multiplier=1.3),
)  # fmt: skip


# -------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulation; validated on creation.

    ``history_end`` is the exclusive end of history (a UTC midnight; a naive string is
    read as UTC). ``growth_scale`` multiplies every model's monthly growth rate.
    ``models`` restricts the simulation to some of the default profiles (None = all).
    ``plan_error`` is the log-scale spread of the planner's estimates: the events table
    states each campaign's and launch's ``effect`` as its true multiplier times
    ``exp(N(0, plan_error))``, rounded to 0.05 as a planner would write it (0 = exact).
    ``workspaces`` (None = one team) simulates an organisation: every workspace x API
    key x model is a series of its own, and usage, truth and peaks gain ``workspace``
    and ``api_key`` columns (see :class:`Workspace`).
    """

    seed: int = 7
    history_end: str = "2026-10-01"
    history_days: int = 548
    future_days: int = 120
    local_timezone: str = "America/New_York"
    holiday_country: str = "US"
    growth_scale: float = 1.0
    models: tuple[str, ...] | None = None
    plan_error: float = 0.1
    peak_replays: int = 12
    workspaces: tuple[Workspace, ...] | None = None

    def __post_init__(self) -> None:
        if self.models is not None and not isinstance(self.models, tuple):
            object.__setattr__(self, "models", tuple(self.models))
        if self.workspaces is not None:
            object.__setattr__(self, "workspaces", tuple(
                w if isinstance(w, Workspace) else Workspace(**w) for w in self.workspaces))
        _validate_config(self)

    @property
    def history_end_utc(self) -> pd.Timestamp:
        """``history_end`` as a tz-aware UTC timestamp."""
        end = pd.Timestamp(self.history_end)
        return end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")

    @property
    def history_start_utc(self) -> pd.Timestamp:
        """First hour of history (UTC)."""
        return self.history_end_utc - pd.Timedelta(days=self.history_days)

    @property
    def simulation_end_utc(self) -> pd.Timestamp:
        """Exclusive end of the future window (UTC)."""
        return self.history_end_utc + pd.Timedelta(days=self.future_days)

    @property
    def profiles(self) -> tuple[ModelProfile, ...]:
        """Selected model profiles, sorted by model id."""
        names = sorted(self.models if self.models is not None else DEFAULT_PROFILES)
        return tuple(DEFAULT_PROFILES[name] for name in names)

    @property
    def streams(self) -> tuple[_Stream, ...]:
        """The simulated series: one per model, or per workspace x API key x model."""
        if self.workspaces is None:
            return tuple(_Stream(p) for p in self.profiles)
        out = []
        for space in self.workspaces:
            for profile in self.profiles:
                if space.models is not None and profile.model not in space.models:
                    continue
                share = space.share / len(space.api_keys)
                batch = None if profile.batch is None else replace(
                    profile.batch, requests_per_minute=profile.batch.requests_per_minute * share)
                scaled = replace(profile, peak_requests_per_hour=profile.peak_requests_per_hour * share,
                                 monthly_growth=space.monthly_growth, batch=batch)
                created = None if space.created is None else _utc_day(space.created)
                rotated = None if space.rotated is None else _utc_day(space.rotated)
                for i, key in enumerate(space.api_keys):
                    if i == 0 and rotated is not None:
                        out.append(_Stream(scaled, space.name, key, created, rotated))
                        out.append(_Stream(scaled, space.name, f"{key}-rotated", rotated, None))
                    else:
                        out.append(_Stream(scaled, space.name, key, created, None))
        return tuple(out)


def _utc_day(text: str) -> pd.Timestamp:
    day = pd.Timestamp(text)
    return day.tz_localize("UTC") if day.tzinfo is None else day.tz_convert("UTC")


def _validate_config(config: SimulatorConfig) -> None:
    """Raise ValueError naming the first invalid field of ``config``."""
    if not isinstance(config.seed, (int, np.integer)) or config.seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {config.seed!r}")
    try:
        end = config.history_end_utc
    except (ValueError, TypeError) as exc:
        raise ValueError(f"history_end is not a date: {config.history_end!r}") from exc
    if end != end.normalize():
        raise ValueError(f"history_end must be a UTC midnight, got {config.history_end!r}")
    if int(config.history_days) != config.history_days or config.history_days < 56:
        raise ValueError(f"history_days must be an int >= 56, got {config.history_days!r}")
    if int(config.future_days) != config.future_days or config.future_days < 0:
        raise ValueError(f"future_days must be an int >= 0, got {config.future_days!r}")
    try:
        ZoneInfo(config.local_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"local_timezone is unknown: {config.local_timezone!r}") from exc
    if config.holiday_country not in holidays.list_supported_countries():
        raise ValueError(f"holiday_country is not supported: {config.holiday_country!r}")
    if config.models is not None:
        unknown = sorted(set(config.models) - set(DEFAULT_PROFILES))
        if unknown or not config.models or len(set(config.models)) != len(config.models):
            raise ValueError(
                f"models must be distinct names from {sorted(DEFAULT_PROFILES)}, "
                f"got {config.models!r}"
            )
    if not (np.isfinite(config.plan_error) and config.plan_error >= 0):
        raise ValueError(f"plan_error must be a finite number >= 0, got {config.plan_error!r}")
    if int(config.peak_replays) != config.peak_replays or config.peak_replays < 0:
        raise ValueError(f"peak_replays must be an int >= 0, got {config.peak_replays!r}")
    if not np.isfinite(config.growth_scale):
        raise ValueError(f"growth_scale must be finite, got {config.growth_scale!r}")
    if config.workspaces is not None:
        names = [w.name for w in config.workspaces]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"workspaces must have distinct names, got {names!r}")
        for space in config.workspaces:
            unknown = sorted(set(space.models or ()) - set(DEFAULT_PROFILES))
            if unknown:
                raise ValueError(f"workspace {space.name!r}: unknown models {unknown}")
            for day in (space.created, space.rotated):
                if day is not None and not config.history_start_utc < _utc_day(day) < config.history_end_utc:
                    raise ValueError(f"workspace {space.name!r}: {day!r} is not inside the history")
    for profile in DEFAULT_PROFILES.values():
        if 1.0 + profile.monthly_growth * config.growth_scale <= 0.0:
            raise ValueError(
                f"growth_scale={config.growth_scale!r} makes {profile.model}'s monthly "
                "growth factor non-positive"
            )


# ------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` returns.

    ``usage``: hourly usage per model over history, outage hours absent.
    ``events``: holidays, campaigns, launches and the outage, past and planned.
    ``truth``: long format, history + future, ``expected`` (noise-free mean) and
    ``actual`` (realised) per hour, model and target.
    ``peaks``: per future UTC day, model and metric, the busiest minute of the realised
    day (``draw`` 0) and of ``peak_replays`` replays of it (draws 1..n).
    """

    usage: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    peaks: pd.DataFrame
    config: SimulatorConfig


@dataclass(frozen=True)
class _Event:
    """One listed event and its multiplier on the traffic of ``scope``."""

    start: pd.Timestamp
    end: pd.Timestamp
    name: str
    kind: str
    scope: str
    multiplier: float = 1.0

    def active(self, hours: pd.DatetimeIndex) -> np.ndarray:
        """Mask of the hourly buckets whose start lies in [start, end)."""
        return np.asarray((hours >= self.start) & (hours < self.end))

    def applies_to(self, model: str) -> bool:
        """Whether the event affects ``model``."""
        return self.scope in ("", model)


@dataclass(frozen=True)
class _Calendar:
    """Hourly UTC grid of the simulation and its local-time features."""

    hours: pd.DatetimeIndex
    holiday_names: dict[pd.Timestamp, str]
    local_hour: np.ndarray
    is_weekend: np.ndarray
    is_holiday: np.ndarray
    day_index: np.ndarray
    n_days: int
    months: np.ndarray


# ------------------------------------------------------------------------ calendar


def _build_calendar(config: SimulatorConfig) -> _Calendar:
    """Hourly grid [history start, simulation end) with local hour, day type and age."""
    hours = pd.date_range(
        config.history_start_utc, config.simulation_end_utc, freq="h", inclusive="left"
    )
    local = hours.tz_convert(config.local_timezone)
    local_dates = local.tz_localize(None).normalize()
    day_index, unique_days = pd.factorize(local_dates)
    holiday_names = _holiday_names(config, pd.DatetimeIndex(unique_days))
    elapsed = (hours - hours[0]) / pd.Timedelta(hours=1)
    return _Calendar(
        hours=hours,
        holiday_names=holiday_names,
        local_hour=np.asarray(local.hour),
        is_weekend=np.asarray(local.dayofweek >= 5),
        is_holiday=np.asarray(local_dates.isin(list(holiday_names))),
        day_index=np.asarray(day_index),
        n_days=len(unique_days),
        months=np.asarray(elapsed, dtype=float) / _HOURS_PER_MONTH,
    )


def _holiday_names(
    config: SimulatorConfig, local_days: pd.DatetimeIndex
) -> dict[pd.Timestamp, str]:
    """Public holidays (local date -> name) falling on the simulated local days."""
    years = range(local_days.min().year, local_days.max().year + 1)
    calendar = holidays.country_holidays(config.holiday_country, years=years)
    days = set(local_days)
    return {
        pd.Timestamp(day): name
        for day, name in sorted(calendar.items())
        if pd.Timestamp(day) in days
    }


# -------------------------------------------------------------------------- events


def _build_events(config: SimulatorConfig, calendar: _Calendar) -> list[_Event]:
    """Holidays plus the planned campaigns, launches and outage, sorted by start."""
    tz = config.local_timezone
    events = [
        _Event(
            start=day.tz_localize(tz).tz_convert("UTC"),
            end=(day + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC"),
            name=name,
            kind="holiday",
            scope="",
        )
        for day, name in calendar.holiday_names.items()
    ]
    selected = {p.model for p in config.profiles}
    for plan in _EVENT_PLAN:
        if plan.scope and plan.scope not in selected:
            continue
        event = _place_event(plan, config)
        if event is not None:
            events.append(event)
    return sorted(events, key=lambda e: (e.start, e.kind, e.name))


def _place_event(plan: _PlannedEvent, config: SimulatorConfig) -> _Event | None:
    """Turn a planned event into dated UTC bounds; None if it does not fit its window."""
    if plan.window == "history":
        lo, hi = config.history_start_utc, config.history_end_utc
    else:
        lo, hi = config.history_end_utc, config.simulation_end_utc
    tz = "UTC" if plan.kind == "outage" else config.local_timezone
    anchor = (lo + (hi - lo) * plan.at_fraction).tz_convert(tz).tz_localize(None).normalize()
    anchor += pd.Timedelta(days=(plan.weekday - anchor.dayofweek) % 7)
    start_local = anchor + pd.Timedelta(hours=plan.local_hour)
    start = start_local.tz_localize(tz).tz_convert("UTC")
    if plan.days is not None:
        end = (anchor + pd.Timedelta(days=plan.days)).tz_localize(tz).tz_convert("UTC")
    elif plan.hours is not None:
        end = start + pd.Timedelta(hours=plan.hours)
    else:
        end = config.simulation_end_utc
    # A launch's step change lasts to the simulation end; other events must fit.
    if not lo <= start < hi or (plan.kind != "launch" and end > hi):
        return None
    return _Event(start, end, plan.name, plan.kind, plan.scope, plan.multiplier)


def _stated_effect(event: _Event, config: SimulatorConfig) -> float:
    """The planner's estimate of a campaign's or launch's multiplier (NaN for other kinds).

    Seeded per event name, so the traffic and the other events' estimates do not move.
    """
    if event.kind not in ("campaign", "launch"):
        return np.nan
    rng = np.random.default_rng([config.seed, zlib.crc32(event.name.encode())])
    estimate = event.multiplier * np.exp(rng.normal(0.0, config.plan_error))
    return max(round(estimate * 20) / 20, 0.05)


def _events_frame(events: list[_Event], config: SimulatorConfig) -> pd.DataFrame:
    """The public events table (start, end, name, kind, scope, stated effect)."""
    frame = pd.DataFrame(
        {
            "start": pd.DatetimeIndex([e.start for e in events], tz="UTC"),
            "end": pd.DatetimeIndex([e.end for e in events], tz="UTC"),
            "name": pd.Series([e.name for e in events], dtype=object),
            "kind": pd.Series([e.kind for e in events], dtype=object),
            "scope": pd.Series([e.scope for e in events], dtype=object),
            "effect": pd.Series([_stated_effect(e, config) for e in events], dtype=float),
        }
    )
    return frame.loc[:, list(EVENT_COLUMNS)]


def _outage_mask(events: list[_Event], calendar: _Calendar) -> np.ndarray:
    """Hours during which no usage was recorded."""
    mask = np.zeros(len(calendar.hours), dtype=bool)
    for event in events:
        if event.kind == "outage":
            mask |= event.active(calendar.hours)
    return mask


def _event_multiplier(events: list[_Event], calendar: _Calendar, model: str) -> np.ndarray:
    """Product of the campaign and launch multipliers active for ``model`` each hour."""
    multiplier = np.ones(len(calendar.hours))
    for event in events:
        if event.kind in ("campaign", "launch") and event.applies_to(model):
            multiplier[event.active(calendar.hours)] *= event.multiplier
    return multiplier


# ---------------------------------------------------------------------- mean model


def _growth(profile: ModelProfile, calendar: _Calendar, growth_scale: float) -> np.ndarray:
    """Multiplicative growth since the history start, per hour."""
    return (1.0 + profile.monthly_growth * growth_scale) ** calendar.months


def _day_factor(profile: ModelProfile, calendar: _Calendar) -> np.ndarray:
    """Weekday/weekend/holiday multiplier per hour (a weekend holiday takes the smaller)."""
    factor = np.where(calendar.is_weekend, profile.weekend_factor, 1.0)
    return np.where(calendar.is_holiday, np.minimum(factor, profile.holiday_factor), factor)


def _interactive_mean(
    profile: ModelProfile, calendar: _Calendar, scale: np.ndarray
) -> np.ndarray:
    """Expected interactive requests per hour, given the growth x event ``scale``."""
    hour_weight = np.asarray(profile.hour_weights)[calendar.local_hour]
    return profile.peak_requests_per_hour * hour_weight * _day_factor(profile, calendar) * scale


def _job_rate(batch: BatchJobs, calendar: _Calendar) -> np.ndarray:
    """Poisson rate of batch-job starts in each hour."""
    weights = np.asarray(batch.start_hour_weights, dtype=float)
    return batch.jobs_per_day * (weights / weights.sum())[calendar.local_hour]


def _job_coverage(batch: BatchJobs) -> tuple[float, float]:
    """Mean minutes a job spends in its start hour and in the next hour."""
    start_minute = np.arange(_MINUTES_PER_HOUR)[:, None]
    duration = np.arange(batch.min_minutes, batch.max_minutes + 1)[None, :]
    in_start_hour = np.minimum(duration, _MINUTES_PER_HOUR - start_minute)
    return float(in_start_hour.mean()), float((duration - in_start_hour).mean())


def _batch_mean(batch: BatchJobs, calendar: _Calendar, scale: np.ndarray) -> np.ndarray:
    """Expected batch requests per hour, including jobs spilling over from the hour before."""
    requests_per_job_minute = _job_rate(batch, calendar) * batch.requests_per_minute * scale
    in_start_hour, in_next_hour = _job_coverage(batch)
    mean = requests_per_job_minute * in_start_hour
    mean[1:] += requests_per_job_minute[:-1] * in_next_hour
    return mean


# --------------------------------------------------------------------- realisation


def _gamma_mean_one(rng: np.random.Generator, cv: float, size: int) -> np.ndarray:
    """Gamma draws with mean 1 and coefficient of variation ``cv``."""
    shape = 1.0 / cv**2
    return rng.gamma(shape, 1.0 / shape, size=size)


def _batch_minutes(
    rng: np.random.Generator, batch: BatchJobs, calendar: _Calendar, scale: np.ndarray
) -> np.ndarray:
    """Realised batch requests-per-minute intensity, shape (hours, 60)."""
    n_hours = len(calendar.hours)
    n_minutes = n_hours * _MINUTES_PER_HOUR
    jobs = rng.poisson(_job_rate(batch, calendar))
    job_hour = np.repeat(np.arange(n_hours), jobs)
    start = job_hour * _MINUTES_PER_HOUR + rng.integers(0, _MINUTES_PER_HOUR, job_hour.size)
    duration = rng.integers(batch.min_minutes, batch.max_minutes + 1, job_hour.size)
    rate = (
        batch.requests_per_minute
        * scale[job_hour]
        * _gamma_mean_one(rng, batch.rate_cv, job_hour.size)
    )
    # Difference array: +rate at a job's first minute, -rate after its last.
    step = np.zeros(n_minutes + 1)
    np.add.at(step, start, rate)
    np.add.at(step, np.minimum(start + duration, n_minutes), -rate)
    return np.clip(np.cumsum(step[:-1]), 0.0, None).reshape(n_hours, _MINUTES_PER_HOUR)


def _minute_counts(
    rng: np.random.Generator, profile: ModelProfile, minute_mean: np.ndarray
) -> np.ndarray:
    """Negative-binomial request counts per minute around ``minute_mean``."""
    k = profile.minute_dispersion
    return rng.negative_binomial(k, k / (k + minute_mean)).astype(np.int64)


def _minute_tokens(
    rng: np.random.Generator, counts: np.ndarray, mean_size: float, cv: float
) -> np.ndarray:
    """Tokens per minute: the sum of ``counts`` gamma-sized requests, rounded."""
    shape_per_request = 1.0 / cv**2
    tokens = rng.gamma(counts * shape_per_request, mean_size / shape_per_request)
    return np.rint(tokens).astype(np.int64)


def _model_seed(seed: int, model: str, label: str | None = None) -> list[int]:
    """Seed entropy for one model's stream, stable across runs and model subsets.

    ``label`` (an organisation's ``workspace/api_key``) gives each series its own stream.
    """
    entropy = [int(seed), zlib.crc32(model.encode())]
    return entropy if label is None else [*entropy, zlib.crc32(label.encode())]


def _active(stream: _Stream, hours: pd.DatetimeIndex) -> np.ndarray:
    """1 where the stream's workspace and key exist, else 0."""
    on = np.ones(len(hours))
    if stream.active_from is not None:
        on[np.asarray(hours < stream.active_from)] = 0.0
    if stream.active_until is not None:
        on[np.asarray(hours >= stream.active_until)] = 0.0
    return on


def _scale(stream: _Stream, calendar: _Calendar, events: list[_Event], config: SimulatorConfig) -> np.ndarray:
    """Growth x event multipliers (x 0 where the stream does not exist) per hour."""
    profile = stream.profile
    scale = _growth(profile, calendar, config.growth_scale) * _event_multiplier(events, calendar, profile.model)
    return scale if stream.workspace is None else scale * _active(stream, calendar.hours)


def _simulate_model(
    stream: _Stream,
    calendar: _Calendar,
    events: list[_Event],
    config: SimulatorConfig,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Expected and realised hourly series of one model (targets and peaks)."""
    profile = stream.profile
    rng = np.random.default_rng(_model_seed(config.seed, profile.model, stream.seed_label))
    scale = _scale(stream, calendar, events, config)
    interactive = _interactive_mean(profile, calendar, scale)
    expected_requests = interactive.copy()
    shock = np.exp(
        rng.normal(-0.5 * profile.daily_noise**2, profile.daily_noise, calendar.n_days)
    )[calendar.day_index]
    minute_mean = np.repeat(
        (interactive * shock / _MINUTES_PER_HOUR)[:, None], _MINUTES_PER_HOUR, axis=1
    )
    if profile.batch is not None:
        expected_requests += _batch_mean(profile.batch, calendar, scale)
        minute_mean += _batch_minutes(rng, profile.batch, calendar, scale)

    counts = _minute_counts(rng, profile, minute_mean)
    tokens = {
        target: _minute_tokens(rng, counts, profile.sizes.mean(target), profile.sizes.request_cv)
        for target in TOKEN_TARGETS
    }
    expected = {"requests": expected_requests}
    expected |= {t: expected_requests * profile.sizes.mean(t) for t in TOKEN_TARGETS}
    realised = {"requests": counts.sum(axis=1)}
    realised |= {t: minutes.sum(axis=1) for t, minutes in tokens.items()}
    realised["peak_rpm"] = counts.max(axis=1)
    realised["peak_itpm"] = (tokens["input_tokens"] + tokens["cache_write_tokens"]).max(axis=1)
    realised["peak_otpm"] = tokens["output_tokens"].max(axis=1)
    return expected, realised


def _minute_peaks(rng: np.random.Generator, profile: ModelProfile, minute_mean: np.ndarray) -> dict[str, np.ndarray]:
    """Busiest minute per hour of one draw: ``rpm``, ``itpm`` (uncached input + cache writes), ``otpm``."""
    counts = _minute_counts(rng, profile, minute_mean)
    cv = profile.sizes.request_cv
    input_tokens = _minute_tokens(rng, counts, profile.sizes.input_tokens, cv)
    input_tokens += _minute_tokens(rng, counts, profile.sizes.cache_write_tokens, cv)
    output_tokens = _minute_tokens(rng, counts, profile.sizes.output_tokens, cv)
    return {"rpm": counts.max(axis=1), "itpm": input_tokens.max(axis=1), "otpm": output_tokens.max(axis=1)}


def _sub_calendar(calendar: _Calendar, keep: np.ndarray) -> _Calendar:
    """The hours of ``calendar`` in the mask ``keep``."""
    return replace(calendar, hours=calendar.hours[keep], local_hour=calendar.local_hour[keep],
                   is_weekend=calendar.is_weekend[keep], is_holiday=calendar.is_holiday[keep],
                   day_index=calendar.day_index[keep], months=calendar.months[keep])


def _peak_replays(stream: _Stream, calendar: _Calendar, events: list[_Event], config: SimulatorConfig,
                  future: np.ndarray) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Daily peaks of the future window replayed ``peak_replays`` times: (UTC days, metric -> (draws, days))."""
    profile = stream.profile
    rng = np.random.default_rng([*_model_seed(config.seed, profile.model, stream.seed_label), 1])
    sub = _sub_calendar(calendar, future)
    scale = _scale(stream, calendar, events, config)[future]
    interactive = _interactive_mean(profile, sub, scale)
    day_of_hour, days = pd.factorize(sub.hours.floor("D"))
    out = {m: np.zeros((config.peak_replays, len(days))) for m in ("rpm", "itpm", "otpm")}
    for draw in range(config.peak_replays):
        shock = np.exp(rng.normal(-0.5 * profile.daily_noise**2, profile.daily_noise, calendar.n_days))
        minute_mean = np.repeat((interactive * shock[sub.day_index] / _MINUTES_PER_HOUR)[:, None],
                                _MINUTES_PER_HOUR, axis=1)
        if profile.batch is not None:
            minute_mean += _batch_minutes(rng, profile.batch, sub, scale)
        busiest = minute_mean.max(axis=1)
        day_busiest = pd.Series(busiest).groupby(day_of_hour).transform("max").to_numpy()
        drawn = busiest >= _REPLAY_HOUR_SHARE * day_busiest
        peaks = _minute_peaks(rng, profile, minute_mean[drawn])
        for metric, values in peaks.items():
            np.maximum.at(out[metric][draw], day_of_hour[drawn], values)
    return pd.DatetimeIndex(days), out


def _peaks_frame(model: str, realised: dict[str, np.ndarray], calendar: _Calendar, future: np.ndarray,
                 replays: tuple[pd.DatetimeIndex, dict[str, np.ndarray]]) -> pd.DataFrame:
    """Long-format peak truth of one model: draw 0 realised, draws 1..n replayed."""
    days, replayed = replays
    realised_columns = {"rpm": "peak_rpm", "itpm": "peak_itpm", "otpm": "peak_otpm"}
    day_of_hour = pd.Index(days).get_indexer(calendar.hours[future].floor("D"))
    parts = []
    for metric, column in realised_columns.items():
        actual = np.zeros(len(days))
        np.maximum.at(actual, day_of_hour, realised[column][future])
        draws = np.vstack([actual, replayed[metric]])
        parts.append(pd.DataFrame({
            "timestamp": np.tile(days, len(draws)), "model": model, "metric": metric,
            "draw": np.repeat(np.arange(len(draws)), len(days)), "peak": draws.ravel().astype(np.int64),
        }))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------- outputs


def _usage_frame(
    model: str,
    realised: dict[str, np.ndarray],
    calendar: _Calendar,
    keep: np.ndarray,
) -> pd.DataFrame:
    """Usage rows of one model for the hours in ``keep``."""
    frame = pd.DataFrame({"timestamp": calendar.hours[keep], "model": model})
    for column in (*TARGETS, *PEAK_COLUMNS):
        frame[column] = realised[column][keep].astype(np.int64)
    return frame


def _truth_frame(
    model: str,
    expected: dict[str, np.ndarray],
    realised: dict[str, np.ndarray],
    calendar: _Calendar,
    outage: np.ndarray,
    is_future: np.ndarray,
) -> pd.DataFrame:
    """Long-format truth rows of one model, targets in TARGETS order."""
    n = len(calendar.hours)
    tiled = np.tile(np.arange(n), len(TARGETS))
    actual = [np.where(outage, np.nan, realised[t].astype(float)) for t in TARGETS]
    return pd.DataFrame(
        {
            "timestamp": calendar.hours[tiled],
            "model": model,
            "target": np.repeat(np.asarray(TARGETS, dtype=object), n),
            "expected": np.concatenate([expected[t] for t in TARGETS]),
            "actual": np.concatenate(actual),
            "is_future": is_future[tiled],
        }
    )


def _with_dims(columns: tuple[str, ...], dims: list[str]) -> list[str]:
    """``columns`` with the dimension columns right after ``model``."""
    at = columns.index("model") + 1
    return [*columns[:at], *dims, *columns[at:]]


def _coerce_config(config: SimulatorConfig | Mapping[str, Any] | None) -> SimulatorConfig:
    """Accept a config, a mapping of its fields (e.g. Kedro parameters) or None."""
    if config is None:
        return SimulatorConfig()
    if isinstance(config, SimulatorConfig):
        return config
    if isinstance(config, Mapping):
        unknown = sorted(set(config) - {f.name for f in fields(SimulatorConfig)})
        if unknown:
            raise ValueError(f"unknown SimulatorConfig fields: {unknown}")
        return SimulatorConfig(**config)
    raise TypeError(f"config must be a SimulatorConfig or a mapping, got {type(config).__name__}")


def simulate(config: SimulatorConfig | Mapping[str, Any] | None = None) -> Simulation:
    """Simulate hourly usage, events and truth for ``config`` (default: SimulatorConfig()).

    Same config (seed included) gives identical frames.
    """
    config = _coerce_config(config)
    calendar = _build_calendar(config)
    events = _build_events(config, calendar)
    outage = _outage_mask(events, calendar)
    is_future = np.asarray(calendar.hours >= config.history_end_utc)
    in_usage = ~outage & ~is_future

    usage_parts, truth_parts, peak_parts = [], [], []
    for stream in config.streams:
        model = stream.profile.model
        expected, realised = _simulate_model(stream, calendar, events, config)
        exists = np.ones(len(calendar.hours), dtype=bool) if stream.workspace is None else \
            _active(stream, calendar.hours) > 0
        usage_parts.append(_usage_frame(model, realised, calendar, in_usage & exists).assign(**stream.labels))
        truth_parts.append(
            _truth_frame(model, expected, realised, calendar, outage, is_future).assign(**stream.labels)
        )
        if is_future.any():
            replays = _peak_replays(stream, calendar, events, config, is_future)
            peak_parts.append(_peaks_frame(model, realised, calendar, is_future, replays).assign(**stream.labels))
    dims = [] if config.workspaces is None else ["workspace", "api_key"]
    usage = pd.concat(usage_parts, ignore_index=True).loc[:, _with_dims(USAGE_COLUMNS, dims)]
    truth = pd.concat(truth_parts, ignore_index=True).loc[:, _with_dims(TRUTH_COLUMNS, dims)]
    peak_columns = _with_dims(PEAK_TRUTH_COLUMNS, dims)
    peaks = (pd.concat(peak_parts, ignore_index=True) if peak_parts else
             pd.DataFrame({c: [] for c in peak_columns})).loc[:, peak_columns]
    return Simulation(usage=usage, events=_events_frame(events, config), truth=truth, peaks=peaks,
                      config=config)
