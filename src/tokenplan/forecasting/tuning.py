"""Optuna tuning of the forecaster's XGBoost hyperparameters.

Seeded TPE over a space that includes regularisation; each trial is scored by the mean
pinball loss (in the log-ratio space the model is trained in) over rolling-origin
validation folds at the real horizon, reported fold by fold so the median pruner can
stop a bad trial early. The study lives in an Optuna RDB storage (a SQLite file by
default; a PostgreSQL URL lets several workers share one study). Its name carries a
fingerprint of the training data and search space, so re-running on the same data
resumes the study up to its trial budget, and a new quarter's data starts a new study.
Trials left RUNNING by a killed process are marked failed: at once when the process
ran on this host and is gone (the project's run lock rules out a live one), else by
heartbeat, and their parameters run again. The budget counts finished trials only
(complete or pruned, not failed).

With ``trend: auto`` the trend anchor is one more categorical dimension of the search,
so it is chosen on the tuning folds too: the backtest then grades one configuration,
chosen without looking at the windows it is graded on (no selection bias).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from sqlalchemy.exc import SQLAlchemyError

from tokenplan.forecasting.backtest import train_until
from tokenplan.forecasting.features import TRENDS, FeatureSpec, feature_columns, with_trend
from tokenplan.forecasting.forecaster import QuantileForecaster
from tokenplan.forecasting.metrics import pinball
from tokenplan.forecasting.row_keys import drawn_keys, series_target_codes
from tokenplan import progress

logger = logging.getLogger(__name__)

__all__ = ["SEARCH_SPACE_VERSION", "study_name", "suggest_params", "tune", "tuning_sample"]

SEARCH_SPACE_VERSION = "v2"
_MODEL_PARAMS = "model_params"


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: tree shape, learning rate and rounds, sampling and L1/L2 penalties."""
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 6),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 500, step=50),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 100.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bynode": trial.suggest_float("colsample_bynode", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
    }


def study_name(prefix: str, examples: pd.DataFrame, spec: FeatureSpec, origins: list, objective: str) -> str:
    """``prefix-<fingerprint>`` of the labelled examples, the spec, folds and search space.

    Every column of the examples is hashed, not just the series: an edited events
    calendar changes the flags and the stated-effect anchors, and so the labels ``z``.
    """
    labelled = examples[np.isfinite(examples["z"])]
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(labelled, index=False).to_numpy().tobytes())
    digest.update(repr((spec, [str(o) for o in origins], objective, SEARCH_SPACE_VERSION)).encode())
    return f"{prefix}-{digest.hexdigest()[:12]}"


def _storage(url: str, heartbeat_interval: int, grace_period: int, attempts: int = 5) -> RDBStorage:
    """Open the RDB storage, creating its schema if needed.

    Workers started together on an empty PostgreSQL database race to create Optuna's
    tables and enum types; the loser gets an error from the database. The schema exists
    by then, so opening again succeeds.
    """
    for attempt in range(attempts):
        try:
            # Heartbeats and the retry callback have been "experimental" since Optuna 2.8 and
            # are what resumes a killed trial; their ExperimentalWarnings would print on every run.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
                )
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            logger.info("optuna storage schema is being created by another worker; retrying")
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def tune(examples: pd.DataFrame, spec: FeatureSpec, quantiles: list[float], origins: list,
         storage_url: str, name: str, n_trials: int, timeout_seconds: float | None, seed: int = 0,
         fixed_params: dict[str, Any] | None = None, heartbeat_interval: int = 10,
         grace_period: int = 30, max_step: int | None = None) -> dict[str, Any]:
    """Run (or resume) the study until it holds ``n_trials`` finished trials; return the best params.

    A trial whose heartbeat (every ``heartbeat_interval`` s) is older than ``grace_period``
    s was left by a killed worker: it is marked failed and retried.
    """
    # Optuna prints every trial's parameters at INFO on its own handler; the study's start
    # and best loss are logged below instead.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=_storage(storage_url, heartbeat_interval, grace_period),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        direction="minimize",
        load_if_exists=True,
    )
    # Seeded by the trials already stored: a resumed study must not replay the first
    # run's draws, which would spend the remaining budget on parameters already tried.
    _fail_orphaned_trials(study)
    # Seeded by the finished trials: a resumed study must not replay the first run's
    # draws, which would spend the remaining budget on parameters already tried; failed
    # trials (a crash) do not count, and a fresh study is seeded with ``seed`` itself.
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False, states=finished)))
    trends = TRENDS if spec.trend == "auto" else (spec.trend,)
    # A fold whose window holds no labelled bucket (all of it an outage, the year-end
    # holidays or missing) scores nothing: every trial's loss was NaN, and the run stopped
    # on Optuna's "Record does not exist" when it asked for the best trial.
    folds = {trend: [(train, valid) for train, valid in _folds(with_trend(examples, trend), origins, max_step,
                                                               feature_columns(spec)) if len(valid)]
             for trend in trends}
    if not any(folds.values()):
        logger.warning("study %s: no tuning fold holds a labelled bucket (outages, holidays or missing days "
                       "cover their windows), so the model keeps its default parameters", name)
        return {"skipped": "no tuning fold holds a labelled bucket: default parameters", "study_name": name,
                "n_trials": 0}
    trends = tuple(trend for trend in trends if folds[trend])

    def objective(trial: optuna.Trial) -> float:
        params = {**suggest_params(trial), **(fixed_params or {})}
        trend = trial.suggest_categorical("trend", trends) if len(trends) > 1 else trends[0]
        trial.set_user_attr(_MODEL_PARAMS, params)
        trial.set_user_attr("trend", trend)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        losses = []
        for k, (train, valid) in enumerate(folds[trend]):
            model = QuantileForecaster(feature_columns(spec), quantiles, params, seed=seed).fit(train)
            z_hat = model.predict_z(valid)
            z = valid["z"].to_numpy()
            losses.append(np.mean([pinball(z, z_hat[:, i], q) for i, q in enumerate(quantiles)]))
            trial.report(float(np.mean(losses)), step=k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(losses))

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    remaining = max(n_trials - done, 0)
    started = time.monotonic()
    if remaining:
        logger.info("study %s: %d trials done, running %d more", name, done, remaining)
        # Other workers may share the study (a PostgreSQL URL): stop when the study as a
        # whole holds the budget, not when this worker has run its own share.
        budget = MaxTrialsCallback(n_trials, states=finished)
        with progress.steps("Optuna tuning trials", remaining) as trial_done:
            study.optimize(objective, n_trials=remaining, timeout=timeout_seconds, gc_after_trial=False,
                           callbacks=[budget, trial_done])
    logger.info("study %s: best pinball %.4f after %.0f s", name, study.best_value, time.monotonic() - started)
    # The parameters the best trial was scored with (fixed ones included), not Optuna's raw
    # suggestions, which need not be the same names or values.
    best = study.best_trial.user_attrs.get(_MODEL_PARAMS, {**study.best_params, **(fixed_params or {})})
    return {**best, "trend": study.best_trial.user_attrs.get("trend", trends[0]),
            "trend_losses": _best_loss_per_trend(study), "study_name": name, "best_value": study.best_value,
            "n_trials": len(study.get_trials(deepcopy=False, states=finished))}


def tuning_sample(examples: pd.DataFrame, origins: list, max_rows: int | None,
                  seed: int) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """(The examples the study tunes on, what was drawn or None): all of them, or above ``max_rows``
    training rows in the latest tuning fold, every row of whole series-targets drawn at random
    with ``seed`` until that fold holds at most ``max_rows`` rows.

    Each trial fits every tuning fold, so its cost grows with the series: at 1,000 series
    (4,636 series-targets, 913,000 rows in the latest fold) twelve trials took 130 s of a
    20-minute run. Hyperparameters of one global model are read well enough off a few
    thousand series-targets; the backtest then grades the model fitted on all of them.
    """
    if not max_rows or not origins:
        return examples, None
    latest = ((examples["ds"] <= max(origins)) & np.isfinite(examples["z"])).to_numpy()
    drawn = drawn_keys(examples, max_rows, seed, counted=latest)
    if drawn.all():
        return examples, None
    codes, _ = series_target_codes(examples)
    return examples[drawn], {"series_targets": len(np.unique(codes[drawn])),
                             "of_series_targets": len(np.unique(codes[latest])), "rows": int((drawn & latest).sum()),
                             "of_rows": int(latest.sum()), "max_rows": int(max_rows), "seed": int(seed)}


def _fail_orphaned_trials(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials of workers on this host whose process is gone (kill -9),
    and queue their parameters to run again.

    Heartbeats catch them too, but only when a trial starts after the grace period: a
    run started soon after a kill, or with its budget met, left the trial RUNNING for
    good, and TPE's constant liar kept counting it as a bad result.
    """
    host = socket.gethostname()
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        if trial.params:  # drawn before the kill: run them again rather than lose them
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        logger.warning("study %s: trial %d was left running by process %s, which is gone: marked failed%s",
                       study.study_name, trial.number, pid, " and queued again" if trial.params else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _folds(examples: pd.DataFrame, origins: list, max_step: int | None = None,
           columns: list[str] | None = None) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(training rows before the origin, labelled rows of the origin) per validation fold.

    ``max_step`` (the layout's window) keeps a fold to its own window: past it, a tuning
    fold's labels would lie inside the backtest windows. ``columns``: the only ones kept
    (the model's features; the label is always kept), as every trend's folds are held
    through the study.
    """
    out = []
    for o in origins:
        valid = examples[(examples["origin"] == o) & np.isfinite(examples["z"])]
        if max_step is not None:
            valid = valid[valid["step"] <= max_step]
        if columns is not None:
            valid = valid[list(dict.fromkeys([*columns, "z"]))]
        out.append((train_until(examples, o, columns), valid))
    return out


def _best_loss_per_trend(study: optuna.Study) -> dict[str, dict[str, float]]:
    """Per trend anchor tried: the best completed trial's loss and how many trials tried it.

    The counts differ (TPE samples the better anchor more; pruned trials have no loss),
    so the report shows them beside the losses.
    """
    best: dict[str, dict[str, float]] = {}
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for trial in study.get_trials(deepcopy=False, states=finished):
        trend = trial.user_attrs.get("trend")
        if trend is None:
            continue
        entry = best.setdefault(trend, {"best_loss": float("nan"), "trials": 0})
        entry["trials"] += 1
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
            entry["best_loss"] = float(np.nanmin([entry["best_loss"], trial.value]))
    return best
