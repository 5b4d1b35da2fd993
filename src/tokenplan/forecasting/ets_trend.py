"""MSTL's trend on a short history: no trend or a damped one, chosen by AICc, never an undamped one.

statsforecast's ``AutoETS(damped=True)`` does not mean "damped, if there is a trend":
its model loop skips every model without a trend when ``damped`` is set, so it forces
a trend. On two weeks of days whose first week held two dips the second did not repeat,
that forced trend carried the week-on-week rise into the next week (M4's H362 summed to
days: a P50 1.25 times the last week's mean; realised: flat). ``NoOrDampedTrendETS``
fits the best model without a trend (``ZNN``) and the best damped one (``ZZN``, damped)
and forecasts with the one of lower AICc: AutoETS's own choice with the undamped trend
left out (an exponential trend in log space, which a few seasons cannot support).

A module of its own so that importing ``tokenplan.forecasting.baselines`` does not import
statsforecast, and so the class pickles by name for the run's worker processes.
"""

from __future__ import annotations

import numpy as np
from statsforecast.ets import ets_f
from statsforecast.models import AutoETS

__all__ = ["NoOrDampedTrendETS"]


class NoOrDampedTrendETS(AutoETS):
    """``AutoETS`` (non-seasonal) restricted to no trend or a damped trend; see the module docstring."""

    def _chosen(self, y: np.ndarray) -> AutoETS:
        """The ``AutoETS`` of the two (no trend; damped trend) whose best fit to ``y`` has the lower AICc.

        The winner is returned as the same search (refitting it finds the same model), not
        as its components: ``AutoETS(model="AAN", damped=True)`` refuses a 9-point series
        that the ``ZZN`` search fits ("tiny datasets" counts a named trend's parameters).
        """
        best, chosen = np.inf, AutoETS(model="ZNN")
        for model, damped in (("ZNN", None), ("ZZN", True)):
            try:
                aicc = ets_f(np.asarray(y, dtype=float), m=1, model=model, damped=damped)["aicc"]
            except Exception:  # noqa: BLE001 - "tiny datasets", "no model able to be fitted": the other one stands
                continue
            if aicc < best:
                best, chosen = aicc, AutoETS(model=model, damped=damped)
        return chosen

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> NoOrDampedTrendETS:
        self.model_ = self._chosen(y).fit(y, X).model_
        self._store_cs(y=y, X=X)
        return self

    def forecast(self, y: np.ndarray, h: int, X: np.ndarray | None = None, X_future: np.ndarray | None = None,
                 level: list[int] | None = None, fitted: bool = False) -> dict:
        return self._chosen(y).forecast(y=y, h=h, X=X, X_future=X_future, level=level, fitted=fitted)
