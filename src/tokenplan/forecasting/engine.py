"""Where statsforecast's per-series fits run: in this process, or on Spark through Fugue.

By default a ``StatsForecast``'s models fit a pandas frame here, many series shared
among the run's worker processes (``tokenplan.forecasting.statistical_fits``). In a ``kedro run --env spark`` the run's hooks hand this module the Spark
session (``use_spark``), and every statistical fit goes to Spark instead: statsforecast
takes a Spark DataFrame for ``df`` and runs one task per group of series through Fugue,
returning a Spark DataFrame, collected here into the same pandas frame the local path
gives. Callers do not change.

What ran where is counted (``record``), so a run can show, and a test check, that its
fits did run on Spark. Spark's result columns are 32-bit floats (statsforecast's
output schema there), so points agree with the local path to about 1e-7 relative.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from tokenplan.forecasting.statistical_fits import forecast_many_later

__all__ = ["record", "statistical_forecast", "statistical_forecast_later", "use_local", "use_spark"]

_spark: Any = None
_record = {"spark_calls": 0, "spark_series": 0, "local_calls": 0, "local_series": 0}


def use_spark(session: Any) -> None:
    """Send every later statistical fit to ``session`` (a ``SparkSession``)."""
    global _spark
    _spark = session


def use_local() -> None:
    """Fit in this process again (the default)."""
    global _spark
    _spark = None


def record() -> dict[str, int]:
    """Calls and series fitted on Spark and locally since the process started."""
    return dict(_record)


def statistical_forecast(model: Any, df: pd.DataFrame, h: int, level: list[int] | None = None) -> pd.DataFrame:
    """``model.forecast(df=df, h=h, level=level)`` as a pandas frame, on Spark when one is in use.

    ``model`` is a ``statsforecast.StatsForecast`` (locally only its models and frequency are
    read: ``statistical_fits.forecast_many`` fits them on the run's workers); ``df`` has
    ``unique_id, ds, y``.
    """
    return statistical_forecast_later(model, df, h, level)()


def statistical_forecast_later(model: Any, df: pd.DataFrame, h: int,
                               level: list[int] | None = None) -> Callable[[], pd.DataFrame]:
    """``statistical_forecast`` started now, its frame when the returned function is called: locally the
    fits run on the workers meanwhile (``statistical_fits.forecast_many_later``); on Spark they run now."""
    kwargs = {"level": level} if level else {}
    series = int(df["unique_id"].nunique())
    if _spark is None:
        _record["local_calls"] += 1
        _record["local_series"] += series
        pending = forecast_many_later(model.models, model.freq, df, h, level=level or None)
        return lambda: pending()[0]
    frame = df.assign(unique_id=df["unique_id"].astype(str))
    result = model.forecast(df=_spark.createDataFrame(frame), h=h, **kwargs).toPandas()
    _record["spark_calls"] += 1
    _record["spark_series"] += series
    values = [c for c in result.columns if c not in ("unique_id", "ds")]
    result[values] = result[values].astype("float64")
    # The local path returns series in order and each series' steps in time order.
    result = result.sort_values(["unique_id", "ds"], ignore_index=True)
    return lambda: result
