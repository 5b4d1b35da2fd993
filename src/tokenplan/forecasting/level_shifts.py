"""The level a series is at now: the median of its recent seasons, or the last one where the level moved.

The forecast's anchors read a series' level as the median of its last few season means
(``tokenplan.forecasting.features``): robust to one odd week (a campaign, a holiday),
but a level that moved for good (a feature that went live, a migration away) is read as
the old one until the new level fills half the window. Ten days after usage tripled, the
median of four weekly means was 1.43 times the old level, and the direct model and the
seasonal mean (the mean of the last four same-phase values), two of the ensemble's three
members, forecast the quarter at 0.63 of the new level while the seasonal naive and MSTL
had it right.

A **level shift** is read where the last season lies beyond every season of the window
before the one before it by more than ``ratio`` (1.5), and that one (which may straddle the
shift, or lie wholly after it) beyond them on the same side: each by more than ``NOISE_Z``
times the noise of one season's mean (read off the second differences of the longer trend
window's season means, as the guard reads block noise; a history of fewer than five
seasons has no such noise and reads no shift), and the straddling one by at least a
quarter of ``log(ratio)``. The level is then the last season's mean, the only one wholly
after the shift, and the seasonal profile is that season's too. The season before must
have moved: a single odd week at the end (a holiday week, a one-week outage or burst
nobody stated) is what the median is there to ignore; a move that began before the last
season has lasted more than a season. So a tripling or a fall to a third is read from
about eight to ten days after it; a steady ramp moves its season means by less than
``ratio`` a season and is left to the trend anchor.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["NOISE_Z", "current_level"]

NOISE_Z = 3.0  # the shift must exceed this many times one season mean's noise


def _season_noise(log_means: np.ndarray) -> np.ndarray:
    """Per key, the noise of one season's log mean, from second differences (NaN with fewer than three)."""
    bends = np.diff(log_means, n=2, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a key with nothing observed
        centre = np.nanmedian(bends, axis=1, keepdims=True)
        spread = 1.4826 * np.nanmedian(np.abs(bends - centre), axis=1)
    enough = np.isfinite(bends).sum(axis=1) >= 3
    # A second difference of independent season means has six times one mean's variance.
    return np.where(enough, np.nan_to_num(spread) / np.sqrt(6.0), np.nan)


def current_level(window_means: np.ndarray, longer_means: np.ndarray,
                  ratio: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per key, the level now and whether a level shift set it: ``(level, shifted)``.

    ``window_means``: (keys, blocks) the level window's season means, oldest first (NaN:
    unknown); ``longer_means``: the same for the longer trend window, for the noise.
    Level: the median of the window's means, or the last one where the last two lie beyond
    every earlier one by ``ratio`` and the noise (module docstring). ``ratio`` None, or a
    window of fewer than three seasons: never shifted.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a key with nothing observed
        median = np.nanmedian(window_means, axis=1)
    shifted = np.zeros(len(window_means), dtype=bool)
    if ratio is None or window_means.shape[1] < 3:
        return median, shifted
    logs = np.log1p(window_means)
    noise = NOISE_Z * _season_noise(np.log1p(longer_means))
    last, straddling, earlier = logs[:, -1], logs[:, -2], logs[:, :-2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing observed earlier
        high, low = np.nanmax(earlier, axis=1), np.nanmin(earlier, axis=1)
    # Up: the last season above every season before the one before it, and that one above them too
    # (it may straddle the shift, or lie wholly after it).
    up = (last - high, straddling - high)
    down = (low - last, low - straddling)
    needed = (np.maximum(np.log(ratio), noise), np.maximum(np.log(ratio) / 4, noise))
    moved = [(gap[0] > needed[0]) & (gap[1] > needed[1]) for gap in (up, down)]
    # Without the noise of five season means or more (a short history) no shift is read: a trickle's
    # first weeks moved by 1.5 times by chance.
    shifted = (moved[0] | moved[1]) & np.isfinite(last) & np.isfinite(straddling) & np.isfinite(noise)
    return np.where(shifted, window_means[:, -1], median), shifted
