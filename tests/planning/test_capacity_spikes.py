"""History's spikes in the peak forecast: how often they recur, and the plan rows they set."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.planning.capacity import PeakModel, bucket_peak_draws, capacity_tables
from tokenplan.planning.peaks import bucket_minutes

SERIES, GROUP = "claude-sonnet-4-5", "Claude Sonnet 4.x"
HISTORY_DAYS, SPIKE_AGO, SPIKE_SIZE = 150, 42, 10.0  # one day in 150 at 10x, 42 days before the end
LEVEL, RATIO = 1_000_000.0, 6.0  # a day's requests; busiest minute over mean minute (as where peaks are assumed)
HORIZON = pd.date_range("2026-10-01", periods=91, freq="D")


def _history() -> pd.DataFrame:
    """150 quiet days of history (+-5% noise) with one 10x spike day six weeks before the end."""
    rng = np.random.default_rng(3)
    days = pd.date_range(end="2026-09-30", periods=HISTORY_DAYS, freq="D")
    total = LEVEL * np.exp(rng.normal(0, 0.05, len(days)))
    total[-SPIKE_AGO] *= SPIKE_SIZE
    return pd.DataFrame({"unit": GROUP, "metric": "rpm", "ds": days, "total": total,
                         "peak": total / 1440 * RATIO, "measured": True, "ratio": RATIO, "level": "group"})


def _quantiles() -> pd.DataFrame:
    return pd.DataFrame({"p10": LEVEL * 0.9, "p50": LEVEL, "p90": LEVEL * 1.1}, index=HORIZON)


def test_a_spike_in_the_recent_weeks_recurs_at_its_rate_over_the_whole_history():
    """The only spike day of 150 sits in the last 8 weeks (the ratio pool). Drawn as one of the pool's 6 busiest
    days (a tenth of the draws take one of them: one day in 60) a 91-day horizon would meet it with a chance of
    1 - (1 - 1/60)^91 = 78%; at its rate over the history, 1 in 150, the chance is 1 - (1 - 1/150)^91 = 46%."""
    model = PeakModel(n_draws=4000, error_correlation=0.0)
    draws = bucket_peak_draws(_quantiles(), _history(), "D", model, np.random.default_rng(0))
    peaks = draws.peaks()
    plain_top = LEVEL * 1.1 / bucket_minutes("D") * RATIO
    met = (peaks.max(axis=1) > 2 * plain_top).mean()
    expected = 1 - (1 - 1 / HISTORY_DAYS) ** len(HORIZON)
    assert abs(met - expected) < 0.04, (met, expected)
    # the horizon's P50 is a quiet quarter's, as each month's is; its P90 a spike's
    assert np.quantile(peaks.max(axis=1), 0.5) < 1.3 * plain_top < np.quantile(peaks.max(axis=1), 0.9)


def test_a_plan_row_set_by_a_spike_names_its_day_size_and_rate():
    """The horizon's P90 is the spike day recurring: the row names it, its size over the median day, the days of
    history it was one of, and the P90 without it; the months' P50s, a quiet month's, name nothing."""
    history = _history()
    forecast = pd.concat([pd.DataFrame({"series": SERIES, "target": "requests", "timestamp": HORIZON, **{
        q: _quantiles()[q].to_numpy() for q in ("p10", "p50", "p90")}})], ignore_index=True)
    limits = pd.DataFrame({"rpm": [np.nan], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                          index=[GROUP])
    plan, _ = capacity_tables(forecast, history, limits, {GROUP: [SERIES]}, ["p10", "p50", "p90"], "D",
                              PeakModel(n_draws=2000))
    horizon = plan[plan["period"] == "horizon"].iloc[0]
    spike_day = history["ds"].iloc[-SPIKE_AGO]
    size = history["total"].iloc[-SPIKE_AGO] / history["total"].median()
    assert horizon["spike_days"] == f"{spike_day:%Y-%m-%d}"
    assert horizon["spike_size"] == f"{size:.1f}" and 9.0 < size < 11.0
    assert horizon["spike_history_buckets"] == HISTORY_DAYS
    assert horizon["p90_without_spikes"] < 0.5 * horizon["p90"]
    months = plan[plan["period"] != "horizon"]
    assert months["p50_without_spikes"].isna().all()
    # without the spike the P90 is a quiet quarter's: about the forecast's P90 day at the usual burst
    assert horizon["p90_without_spikes"] < 1.3 * LEVEL * 1.1 / 1440 * RATIO


def test_a_busy_weekend_lends_its_burstiness_to_a_weekday_not_its_ratio():
    """A team busy on weekdays (ratio 20: the busiest minute 20 times the day's mean minute) and quiet at the
    weekend (ratio 50 against a weekend's low mean minute). A weekday drawn beyond the forecast's top quantile
    takes one of history's busiest buckets of any kind: a busy Saturday (1.5 times a usual one, ratio 55). Its
    ratio taken whole (55 on a weekday's volume) put the demo organisation's labs P50 ITPM peak at twice the
    truth; lent against its kind's usual 50, it is 22 on a weekday."""
    from tokenplan.planning.capacity import _ratio_draws

    days = pd.date_range("2026-08-03", periods=56, freq="D")  # Monday, eight weeks
    weekend = days.dayofweek >= 5
    total = np.where(weekend, 300.0, 1000.0)
    ratio = np.where(weekend, 50.0, 20.0)
    busy = weekend & (np.arange(56) % 14 == 5)  # every other Saturday: 1.5 times a usual weekend day
    total[busy], ratio[busy] = 450.0, 55.0
    history = pd.DataFrame({"ds": days, "total": total, "ratio": ratio})
    weekdays = pd.date_range("2026-09-28", periods=5, freq="D")
    scores = np.full((200, 5), 2.5)  # every draw beyond the top quantile (0.9)
    drawn = _ratio_draws(history, weekdays, "D", 8, scores, np.random.default_rng(0), top=0.9)
    assert drawn.ratios.max() <= 20.0 * 55.0 / 50.0 + 1e-9
    assert drawn.ratios.min() >= 20.0


OFFICE_HOURS = pd.date_range("2026-09-28 10:00", periods=5, freq="h")  # a Monday's office hours after the history


def _office_and_nights(busy_total: float, busy_ratio: float) -> pd.DataFrame:
    """Eight weeks of hours: office hours (9-17) of 9,000 requests at ratio 1.6 (busiest minute over mean minute),
    night hours of 100 at ratio 6, every other night ``busy_total`` requests at ``busy_ratio``."""
    hours = pd.date_range("2026-08-03", periods=56 * 24, freq="h")  # Monday, eight weeks
    office = (hours.hour >= 9) & (hours.hour < 17)
    total, ratio = np.where(office, 9000.0, 100.0), np.where(office, 1.6, 6.0)
    busy_night = ~office & (hours.day % 2 == 0)
    total[busy_night], ratio[busy_night] = busy_total, busy_ratio
    return pd.DataFrame({"ds": hours, "total": total, "ratio": ratio})


def _beyond_the_top(history: pd.DataFrame, ds: pd.DatetimeIndex) -> np.ndarray:
    """The ratios drawn for ``ds`` when every draw is beyond the forecast's top quantile (0.9)."""
    from tokenplan.planning.capacity import _ratio_draws

    scores = np.full((200, len(ds)), 2.5)
    return _ratio_draws(history, ds, "h", 8, scores, np.random.default_rng(0), top=0.9).ratios


def test_a_sparse_night_hour_lends_an_office_hour_its_burstiness_not_its_counting_noise():
    """Office hours of 9,000 requests (busiest minute 1.6 times the mean minute) and night hours of 100 (ratio 6:
    a few requests more in the busiest minute), every other night twice as busy (ratio 8). An office hour drawn
    beyond the forecast's top quantile takes one of history's busiest hours of any kind, a busy night: its 8 taken
    whole on an office hour's volume put a week's P50 peak at several times history's busiest minute; lent from
    the burstier kind against its usual 6, it is 1.6 x 8 / 6 on an office hour. A night hour drawn beyond the
    top still takes an office hour's burst whole (a calmer kind's burst is lent whole)."""
    history = _office_and_nights(200.0, 8.0)
    assert _beyond_the_top(history, OFFICE_HOURS).max() <= 1.6 * 8.0 / 6.0 + 1e-9
    night = pd.date_range("2026-09-28 02:00", periods=3, freq="h")
    assert _beyond_the_top(history, night).min() >= 1.6 - 1e-9


def test_a_calm_busy_hour_of_a_bursty_kind_never_lends_a_busiest_minute_below_the_mean_minute():
    """Night hours of 100 requests at ratio 6, every other night a batch job of 200 spread evenly (ratio 1.5):
    lent to an office hour (usual 1.6) against the nights' usual 6, it read 1.6 x 1.5 / 6 = 0.4, a busiest minute
    below the mean minute, and the draws meant to carry the spikes came out four times lower than the rest."""
    assert _beyond_the_top(_office_and_nights(200.0, 1.5), OFFICE_HOURS).min() >= 1.0


def test_a_sparse_hours_chance_burst_is_not_lent_whole_to_an_office_hour_but_a_spikes_own_volume_keeps_it():
    """Office hours of 9,000 requests (ratio 1.6) and night hours of 100 (ratio 6), every other night 200 requests
    whose busiest minute held a few long outputs (ratio 18, three times its kind's usual by chance). Lent to an
    office hour at three times the office's usual (4.8), such nights put the user's two-week P50 OTPM peak at 2.4
    times history's busiest minute; the excess kept in the proportion sqrt(200 / 9,000) it is 1.6 x 1.18. A
    night spike that brought an office hour's volume (9,000 requests, ratio 18) keeps its burst: 4.8."""
    assert _beyond_the_top(_office_and_nights(200.0, 18.0), OFFICE_HOURS).max() <= 1.6 * 1.25
    assert np.isclose(_beyond_the_top(_office_and_nights(9000.0, 18.0), OFFICE_HOURS).max(), 1.6 * 18.0 / 6.0)


def test_a_drawn_day_is_never_beyond_three_times_historys_busiest_or_its_forecasts_p90():
    """A key used every other day: its days' forecast P90 nine times their P50 (a backtest fold where it went
    intermittent), history's busiest day 7.5K. The tail past the P90 follows that spread; uncapped, it drew
    days of 100K requests and a horizon P90 of 420 requests a minute against history's busiest minute of 31."""
    days = pd.date_range(end="2026-09-30", periods=120, freq="D")
    total = np.where(np.arange(len(days)) % 2 == 0, 7000.0, 0.0) + np.r_[np.zeros(119), 543.0]
    history = pd.DataFrame({"unit": GROUP, "metric": "rpm", "ds": days, "total": total, "peak": total / 1440 * RATIO,
                            "measured": False, "ratio": np.where(total > 0, RATIO, np.nan), "level": "group"})
    quantiles = pd.DataFrame({"p10": 30.0, "p50": 1425.0, "p90": 13654.0}, index=HORIZON)
    draws = bucket_peak_draws(quantiles, history, "D", PeakModel(n_draws=2000), np.random.default_rng(0))
    ceiling = max(13654.0, 3 * 7543.0)
    assert draws.totals.max() <= ceiling * (1 + 1e-9) and draws.plain_totals.max() <= ceiling * (1 + 1e-9)
    assert np.quantile(draws.peaks().max(axis=1), 0.9) <= ceiling / bucket_minutes("D") * RATIO * (1 + 1e-9)


def test_a_forecast_grown_past_history_keeps_its_tail_past_its_p90():
    """Five times history's level: the ceiling grows with the forecast's P50 (15 times history's level here), so
    draws still go past the P90 (held at 3 times history's busiest day, they stopped at the P90)."""
    grown = _quantiles() * 5
    draws = bucket_peak_draws(grown, _history(), "D", PeakModel(n_draws=2000), np.random.default_rng(0))
    assert draws.totals.max() > grown["p90"].max() * 1.05


def _weekly_batch(days: pd.DatetimeIndex, sunday: float) -> np.ndarray:
    """2,000 requests a weekday and Saturday, ``sunday`` times that on Sundays (a weekly batch evaluation run)."""
    return np.where(days.dayofweek == 6, sunday, 1.0) * 2000.0


def test_a_weekly_batch_day_makes_no_spike_of_historys_first_quiet_days():
    """Six months from a Monday, Sundays at 50 times the other days. Cut short at history's start, the first days'
    week held no Sunday: a quiet Monday stood 8 times as busy as the weekdays' usual, was one of history's
    spikes, and set the horizon's P90 at 3 times history's busiest minute (the draws' ceiling) against each
    month's P90 at about the forecast's P90 Sunday. Each bucket's week is a whole one: no spike, and the
    horizon's peaks are the months'."""
    days = pd.date_range("2026-03-30", "2026-09-30", freq="D")
    rng = np.random.default_rng(5)
    total = _weekly_batch(days, 50.0) * np.exp(rng.normal(0, 0.05, len(days)))
    history = pd.DataFrame({"unit": GROUP, "metric": "rpm", "ds": days, "total": total, "peak": total / 1440 * RATIO,
                            "measured": False, "ratio": RATIO, "level": "group"})
    p50 = _weekly_batch(HORIZON, 50.0)
    forecast = pd.DataFrame({"series": SERIES, "target": "requests", "timestamp": HORIZON,
                             "p10": 0.9 * p50, "p50": p50, "p90": 1.1 * p50})
    limits = pd.DataFrame({"rpm": [np.nan], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                          index=[GROUP])
    plan, _ = capacity_tables(forecast, history, limits, {GROUP: [SERIES]}, ["p10", "p50", "p90"], "D",
                              PeakModel(n_draws=2000))
    horizon = plan[plan["period"] == "horizon"].iloc[0]
    months = plan[plan["period"] != "horizon"]
    assert horizon["spike_days"] == ""
    assert horizon["p90"] < 1.3 * months["p90"].max()
    assert months["p90"].max() < 1.3 * 1.1 * 100_000 / 1440 * RATIO


def _burst_hour_history(weeks: int = 6) -> tuple[pd.DataFrame, pd.Timestamp]:
    """``weeks`` of hourly usage at a steady volume (+-5%) and busiest minute 1.5 times the mean minute (+-5%), with
    one weekday hour whose busiest minute is 15 times its mean minute at a normal volume: a burst minute in a
    normal-volume hour, which no volume rule calls a spike."""
    rng = np.random.default_rng(5)
    hours = pd.date_range(end="2026-09-30 23:00", periods=weeks * 7 * 24, freq="h")
    total = 1_000.0 * np.exp(rng.normal(0, 0.05, len(hours)))
    ratio = 1.5 * np.exp(rng.normal(0, 0.05, len(hours)))
    burst = pd.Timestamp("2026-09-16 14:00")  # a Wednesday, two weeks before the end
    at = hours.get_loc(burst)
    total[at], ratio[at] = 1_000.0, 15.0
    return pd.DataFrame({"unit": GROUP, "metric": "rpm", "ds": hours, "total": total, "peak": total / 60 * ratio,
                         "measured": True, "ratio": ratio, "level": "group"}), burst


def _hourly_plan(history: pd.DataFrame, weeks: int = 6) -> pd.DataFrame:
    horizon = pd.date_range("2026-10-01", periods=weeks * 7 * 24, freq="h")
    forecast = pd.DataFrame({"series": SERIES, "target": "requests", "timestamp": horizon,
                             "p10": 900.0, "p50": 1_000.0, "p90": 1_100.0})
    limits = pd.DataFrame({"rpm": [80.0], "itpm": [np.nan], "otpm": [np.nan], "itpm_counts_cache_reads": [False]},
                          index=[GROUP])
    plan, _ = capacity_tables(forecast, history, limits, {GROUP: [SERIES]}, ["p10", "p50", "p90"], "h",
                              PeakModel(n_draws=1000))
    return plan


def test_a_burst_minute_in_a_normal_volume_hour_that_sets_the_horizons_peak_is_named_with_the_peak_without_it():
    """One hour of ten weeks had its busiest minute at 15 times its mean minute (the others 1.5), at a normal
    volume. Eight weeks of horizon hold 40 hours of its kind (a weekday at 14:00), each drawing one of the last 8
    weeks' 40 (ranks up to the forecast's P90, so one of 36): the horizon meets it with a chance of about
    1 - (35/36)^40 = 68%, so its P50 is that burst recurring (a P50 near it is the burst's rate in the weeks the
    ratios are drawn from, not an artefact), and the row names the hour, its burst, how often it recurs and the
    P50 without it: a busy hour at the usual 1.5 times."""
    from tokenplan.reporting.capacity_section import spike_note

    history, burst = _burst_hour_history(weeks=10)
    plan = _hourly_plan(history, weeks=8)
    horizon = plan[plan["period"] == "horizon"].iloc[0]
    plain = 1_100.0 / 60 * 1.5  # the forecast's P90 hour at the usual burst
    assert horizon["p50"] > 5 * plain  # the burst hour recurring: its busiest minute sets the P50
    assert horizon["spike_days"] == f"{burst:%Y-%m-%d %H:%M}"
    assert horizon["spike_burst"] == "15.0" and abs(horizon["spike_median_burst"] - 1.5) < 0.05
    assert 0.5 < horizon["spike_chance"] < 0.8
    assert plain * 0.9 < horizon["p50_without_spikes"] < plain * 1.3
    assert horizon["p90_without_spikes"] < 1.5 * plain
    note = spike_note(horizon)
    assert note.startswith(f"P50 and P90 set by an hour like {burst:%Y-%m-%d %H:%M} (1.0x the median hour's "
                           "requests; busiest minute 15.0x its mean minute, the median hour's 1.5x) recurring: 1 such "
                           "hour in the 1,344 recent hours the ratios are drawn from, met in "), note
    assert "of the horizon's draws; without it (a burst's busiest minute at its kind's usual multiple of its mean " \
           "minute) the P50 would be" in note


def test_a_burst_a_short_horizon_meets_in_few_draws_sets_its_p90_not_its_p50():
    """A week of horizon holds 5 hours of the burst's kind, each drawing one of history's 30: it meets the burst
    with a chance of about 1 - (29/30)^5 = 16%, more than 1 in 10 and less than 1 in 2. The P90 is the burst
    recurring and says so; the P50 is a busy hour's at the usual burst, and names nothing."""
    plan = _hourly_plan(_burst_hour_history()[0], weeks=1)
    horizon = plan[plan["period"] == "horizon"].iloc[0]
    plain = 1_100.0 / 60 * 1.5
    assert horizon["p50"] < 1.3 * plain < 5 * plain < horizon["p90"]
    assert np.isnan(horizon["p50_without_spikes"]) and horizon["p90_without_spikes"] < 1.5 * plain
    assert horizon["spike_days"] == "2026-09-16 14:00" and 0.1 < horizon["spike_chance"] < 0.25
