"""Two worker processes tune one Optuna study on a real PostgreSQL server (loopback)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time

import optuna
import pytest

from tests import postgres_server
from tests.synthetic import weekly_examples
from tokenplan.forecasting.features import FeatureSpec

QUANTILES = [0.1, 0.5, 0.9]
SPEC = FeatureSpec(horizon=14, holiday_country=None)
FAST = {"num_boost_round": 15, "objective": "squarederror"}
BUDGET = 10

_WORKER = textwrap.dedent(
    """
    import pickle, sys, time
    from pathlib import Path

    from tokenplan.forecasting.tuning import tune

    workdir, url = Path(sys.argv[1]), sys.argv[2]
    examples, spec, origins, quantiles, fast, budget = pickle.loads((workdir / "inputs.pkl").read_bytes())
    (workdir / f"ready-{sys.argv[3]}").touch()
    while not (workdir / "go").exists():  # both workers start together
        time.sleep(0.05)
    tune(examples, spec, quantiles, origins, url, "shared", budget, None, seed=int(sys.argv[3]), fixed_params=fast)
    """
)


@pytest.fixture(scope="module")
def postgres_url():
    if not postgres_server.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing: .ci/run should have installed them")
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    with postgres_server.running_server() as url:
        yield url


def test_two_workers_share_one_study_and_its_budget(postgres_url, tmp_path):
    examples, origins = weekly_examples(SPEC)
    (tmp_path / "inputs.pkl").write_bytes(pickle.dumps((examples, SPEC, origins, QUANTILES, FAST, BUDGET)))
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    workers = [subprocess.Popen([sys.executable, str(script), str(tmp_path), postgres_url, str(seed)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in (1, 2)]
    # Both imported and waiting (on a loaded machine an import can take seconds: a worker
    # started late found the other had spent the whole budget).
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{seed}").exists() for seed in (1, 2)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for worker in workers:
        _, stderr = worker.communicate(timeout=240)
        assert worker.returncode == 0, stderr.decode()[-2000:]

    trials = optuna.load_study(study_name="shared", storage=postgres_url).get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    workers_seen = {t.user_attrs.get("worker") for t in finished}
    # The budget is the study's, not each worker's: at most one trial per extra worker
    # can start before the other's count reaches it.
    assert BUDGET <= len(finished) <= BUDGET + 1
    assert len(workers_seen) == 2, workers_seen
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
