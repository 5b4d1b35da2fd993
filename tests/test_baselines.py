"""The MSTL candidate's gap filling: a gap counts at its phase, not at its neighbours' level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenplan.forecasting.baselines import seasonal_fill


def test_a_gap_is_filled_at_its_phase_of_the_season():
    cycle = np.log1p(1000 * np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.5, 0.4]))
    values = pd.Series(np.tile(cycle, 8))
    gappy = values.copy()
    gappy.iloc[[-1, 20, 30]] = np.nan  # the last Sunday, a Sunday and a Wednesday inside
    filled = seasonal_fill(gappy, 7)
    np.testing.assert_allclose(filled, values, atol=1e-9)
    plain = gappy.interpolate(limit_direction="both")
    assert abs(plain.iloc[-1] - values.iloc[-1]) > 0.2  # plain interpolation carries Saturday's level
    short = gappy.iloc[:10]
    np.testing.assert_allclose(seasonal_fill(short, 7), short.interpolate(limit_direction="both"))
