"""Statsforecast forecasts of many series on every core, in small worker processes started once.

statsforecast's own ``n_jobs`` starts a new pool for every call by forking the calling
process: each worker begins as a copy of a Kedro run that may hold gigabytes (the model
input table at 1,000 series), the copies grow as Python touches their pages, and the
pool's start-up is paid again at every fold. Here the workers are fresh interpreters
(``spawn``) started at the first large call and kept for the run; each takes a
contiguous chunk of the series and fits it with ``n_jobs=1``. Every series is fitted on
its own, so the forecasts are those of one ``StatsForecast.forecast`` call on all of
them, in the same order (series sorted by id).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["POOL_FROM_SERIES", "forecast_many", "forecast_many_later"]

# Below this many series one process is faster than handing chunks to the workers.
POOL_FROM_SERIES = 40
_CHUNKS_PER_WORKER = 4  # several chunks each, so a slow chunk does not leave a core idle
_pool: ProcessPoolExecutor | None = None


def _workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=_workers(), mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_pool.shutdown, cancel_futures=True)
    return _pool


def _forecast(models: list, freq: str, df: pd.DataFrame, h: int, level: list[int] | None,
              fitted: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from statsforecast import StatsForecast

    model = StatsForecast(models=models, freq=freq, n_jobs=1)
    forecast = model.forecast(df=df, h=h, fitted=fitted, **({"level": level} if level else {}))
    return forecast, model.forecast_fitted_values() if fitted else None


def forecast_many(models: list[Any], freq: str, df: pd.DataFrame, h: int, level: list[int] | None = None,
                  fitted: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(``StatsForecast(models, freq).forecast(df, h, level, fitted)``, its fitted values or None).

    ``df`` is statsforecast's long ``unique_id, ds, y``; from ``POOL_FROM_SERIES`` series
    (and more than one core) the series are shared among the run's worker processes.
    """
    return forecast_many_later(models, freq, df, h, level, fitted)()


def forecast_many_later(models: list[Any], freq: str, df: pd.DataFrame, h: int, level: list[int] | None = None,
                        fitted: bool = False) -> Callable[[], tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``forecast_many`` started on the workers now, its result when the returned function is called.

    The caller goes on meanwhile (the backtest fits XGBoost while the workers fit MSTL:
    the run's own process otherwise waited, a core idle, for a third of the backtest).
    Below ``POOL_FROM_SERIES`` series, or on one core, the fit runs here, now.
    """
    ids = np.sort(df["unique_id"].unique())
    workers = _workers()
    if len(ids) < POOL_FROM_SERIES or workers < 2:
        done = _forecast(models, freq, df, h, level, fitted)
        return lambda: done
    chunk_of = pd.Series(np.arange(len(ids)) * (workers * _CHUNKS_PER_WORKER) // len(ids), index=ids)
    codes = df["unique_id"].map(chunk_of).to_numpy()
    chunks = [df[codes == c] for c in range(workers * _CHUNKS_PER_WORKER)]
    futures = [_executor().submit(_forecast, models, freq, chunk, h, level, fitted) for chunk in chunks if len(chunk)]

    def result() -> tuple[pd.DataFrame, pd.DataFrame | None]:
        parts = [future.result() for future in futures]
        forecast = pd.concat([part[0] for part in parts], ignore_index=True)
        return forecast, pd.concat([part[1] for part in parts], ignore_index=True) if fitted else None

    return result
