"""Optuna tuning in a SQLite study: resuming respects the trial budget, and a study whose
worker was killed mid-trial (kill -9) completes its budget on the next run."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests.synthetic import weekly_examples
from tokenplan.forecasting.features import FeatureSpec
from tokenplan.forecasting.tuning import study_name, tune

QUANTILES = [0.1, 0.5, 0.9]
SPEC = FeatureSpec(horizon=14, holiday_country=None)
FAST = {"num_boost_round": 15, "objective": "squarederror"}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
STATE = optuna.trial.TrialState

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, list]:
    return weekly_examples(SPEC)


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def _run(data, url: str, name: str, n_trials: int, **kwargs) -> dict:
    examples, origins = data
    return tune(examples, SPEC, QUANTILES, origins, url, name, n_trials, timeout_seconds=None, seed=0,
                fixed_params=FAST, **kwargs)


def test_study_name_fingerprints_the_data(data):
    examples, origins = data
    name = study_name("tokenplan", examples, SPEC, origins, "squarederror")

    assert name == study_name("tokenplan", examples.copy(), SPEC, origins, "squarederror")
    changed = examples.assign(y=examples["y"] * 1.01)
    assert name != study_name("tokenplan", changed, SPEC, origins, "squarederror")
    assert name != study_name("tokenplan", examples, SPEC, origins, "quantile")
    # An edited events calendar moves flags and stated-effect anchors, not the series.
    assert name != study_name("tokenplan", examples.assign(anchor=examples["anchor"] + 0.1), SPEC, origins,
                              "squarederror")


def test_rerun_resumes_the_study_up_to_its_budget(data, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"

    first = _run(data, url, "resume", n_trials=3)
    after_first = _trials(url, "resume")
    again = _run(data, url, "resume", n_trials=3)
    after_again = _trials(url, "resume")
    more = _run(data, url, "resume", n_trials=5)
    after_more = _trials(url, "resume")

    assert first["n_trials"] == 3 and len(after_first) == 3
    assert len(after_again) == 3  # budget met: no new trial ran
    assert again["best_value"] == first["best_value"]
    assert more["n_trials"] == 5 and len(after_more) == 5
    assert all(t.state in FINISHED for t in after_more)
    # The resumed run explores new parameters instead of replaying the seeded first draws.
    drawn = [tuple(sorted(t.params.items())) for t in after_more]
    assert len(set(drawn)) == len(drawn)
    assert {"max_depth", "learning_rate", "reg_alpha", "reg_lambda"} <= set(more)
    assert more["study_name"] == "resume"
    # The parameters every trial was scored with are part of the best set.
    assert more["num_boost_round"] == FAST["num_boost_round"] and more["objective"] == FAST["objective"]


_KILLED_WORKER = textwrap.dedent(
    """
    import pickle, sys, time
    from pathlib import Path

    import tokenplan.forecasting.tuning as tuning

    workdir = Path(sys.argv[1])
    examples, spec, origins, quantiles, fast = pickle.loads((workdir / "inputs.pkl").read_bytes())

    class SlowForecaster(tuning.QuantileForecaster):
        def fit(self, *args, **kwargs):
            # Inside the objective, so the trial is RUNNING and its heartbeat recorded.
            (workdir / "trial-started").touch()
            time.sleep(120)
            return super().fit(*args, **kwargs)

    tuning.QuantileForecaster = SlowForecaster
    tuning.tune(examples, spec, quantiles, origins, sys.argv[2], "killed", 3, None, seed=0, fixed_params=fast)
    """
)


def test_study_killed_mid_trial_completes_its_budget_on_the_next_run(data, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    examples, origins = data
    (tmp_path / "inputs.pkl").write_bytes(pickle.dumps((examples, SPEC, origins, QUANTILES, FAST)))
    script = tmp_path / "worker.py"
    script.write_text(_KILLED_WORKER)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    worker = subprocess.Popen([sys.executable, str(script), str(tmp_path), url], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "trial-started").exists():
            assert worker.poll() is None, worker.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker never started a trial"
            time.sleep(0.1)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    [killed] = _trials(url, "killed")
    assert killed.state == STATE.RUNNING  # what a crash leaves behind

    # No wait for a heartbeat grace period: the worker ran on this host and is gone.
    result = _run(data, url, "killed", n_trials=3)

    trials = _trials(url, "killed")
    states = [t.state for t in trials]
    assert result["n_trials"] == 3
    assert sum(s in FINISHED for s in states) == 3
    assert STATE.RUNNING not in states and STATE.WAITING not in states
    assert trials[killed.number].state == STATE.FAIL
    retried = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retried) == 1 and retried[0].state in FINISHED
    assert retried[0].params == killed.params  # the interrupted parameters were re-run, not lost


def test_a_trial_orphaned_by_a_kill_is_failed_at_once_and_does_not_count(data, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _run(data, url, "resumed", n_trials=1)
    # What a kill -9 before the first suggestion leaves: a RUNNING trial of a process that is gone.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    orphan = optuna.load_study(study_name="resumed", storage=url).ask()
    orphan.set_user_attr("worker", f"{__import__('socket').gethostname()}:{gone}")

    resumed = _run(data, url, "resumed", n_trials=3)  # default heartbeat grace: 30 s, not waited for

    states = [t.state for t in _trials(url, "resumed")]
    assert states[orphan.number] == STATE.FAIL
    assert resumed["n_trials"] == 3 and sum(s in FINISHED for s in states) == 3
    assert STATE.RUNNING not in states


def _many_series(n: int = 12) -> tuple[pd.DataFrame, list]:
    frames = []
    for i in range(n):
        examples, origins = weekly_examples(SPEC, seed=i)
        frames.append(examples.assign(series=f"team-{i:02d}"))
    return pd.concat(frames, ignore_index=True), origins


def test_a_large_organisation_is_tuned_on_whole_series_drawn_at_random():
    import numpy as np

    from tokenplan.forecasting.tuning import tuning_sample

    examples, origins = _many_series()
    latest = (examples["ds"] <= max(origins)) & np.isfinite(examples["z"])
    per_series = int(latest.sum()) // 12
    same, drawn = tuning_sample(examples, origins, int(latest.sum()), seed=0)
    assert same is examples and drawn is None  # at or under the budget: every series

    sample, drawn = tuning_sample(examples, origins, 5 * per_series, seed=0)
    kept = sample["series"].unique()
    assert drawn["series_targets"] == len(kept) == 5 and drawn["of_series_targets"] == 12
    assert drawn["rows"] <= 5 * per_series and drawn["of_rows"] == int(latest.sum())
    # whole series: every example of a drawn series, labelled or not, at every origin
    pd.testing.assert_frame_equal(sample, examples[examples["series"].isin(kept)])
    again, _ = tuning_sample(examples, origins, 5 * per_series, seed=0)
    other, _ = tuning_sample(examples, origins, 5 * per_series, seed=1)
    assert set(again["series"]) == set(kept) and set(other["series"]) != set(kept)


def test_the_node_states_the_sample_and_keeps_it_out_of_the_model_params(tmp_path):
    from tokenplan.pipelines.training.nodes import _model_params, tune_hyperparameters

    examples, origins = _many_series()
    layout = {"model": True, "tuning_origins": [str(o) for o in origins], "window": SPEC.horizon,
              "horizon": SPEC.horizon, "season": 7, "level_blocks": SPEC.level_weeks}
    params = {"objective": "squarederror", "quantiles": QUANTILES, "seed": 0,
              "tuning": {"storage_url": f"sqlite:///{tmp_path}/optuna.db", "study_prefix": "t", "n_trials": 2,
                         "timeout_seconds": None, "max_rows": 4 * 100}}
    best = tune_hyperparameters(examples, {"freq": "D", "holiday_country": None}, params, layout)
    assert best["tuned_on"]["series_targets"] < 12 and best["tuned_on"]["rows"] <= 400
    assert "tuned_on" not in _model_params(best, params)


def test_tuning_folds_with_nothing_labelled_leave_the_default_parameters(data, tmp_path):
    # Every tuning window an outage or the year-end holidays (its labels masked): no trial
    # can be scored. Before, every loss was NaN and the run stopped on Optuna's "Record does
    # not exist"; now the study says so and the model keeps its default parameters.
    examples, origins = data
    masked = examples.copy()
    in_windows = masked["origin"].isin(origins)
    masked.loc[in_windows, ["y", "z"]] = float("nan")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    best = tune(masked, SPEC, QUANTILES, origins, url, "masked", 3, timeout_seconds=None, seed=0, fixed_params=FAST)
    assert best["skipped"].startswith("no tuning fold holds a labelled bucket") and best["n_trials"] == 0
    assert "trend" not in best and "max_depth" not in best
