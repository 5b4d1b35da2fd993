"""The simulator's organisation option: workspaces with their own share, growth, models and keys."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tokenplan.simulator import SimulatorConfig, Workspace, simulate

SHORT = {"history_days": 120, "future_days": 30, "peak_replays": 0}
ORG = [
    {"name": "fast", "share": 0.5, "monthly_growth": 0.15, "models": ["claude-sonnet-4-5"], "api_keys": ["a", "b"]},
    {"name": "flat", "share": 0.5, "monthly_growth": 0.0, "models": ["claude-sonnet-4-5", "claude-haiku-4-5"]},
    {"name": "young", "share": 0.2, "monthly_growth": 0.05, "models": ["claude-haiku-4-5"], "created": "2026-08-03"},
    {"name": "rotating", "share": 0.2, "monthly_growth": 0.0, "models": ["claude-sonnet-4-5"],
     "rotated": "2026-09-01"},
]


@pytest.fixture(scope="module")
def org():
    return simulate({"seed": 5, **SHORT, "workspaces": ORG})


def _hashes(simulation) -> dict[str, str]:
    # Floats rounded to 4 decimals: numpy's vectorised exp and log may differ in the last bit from one CPU to
    # another (the truth's expected values hashed differently on a machine without AVX-512 than on CI's).
    return {part: hashlib.sha256(getattr(simulation, part).round(4).to_csv().encode()).hexdigest()[:16]
            for part in ("usage", "events", "truth", "peaks")}


def test_default_demo_frames_are_unchanged_by_the_organisation_option():
    # Hashes of the frames the simulator gave before workspaces existed (same numpy and pandas):
    # the default demo's series must stay byte-identical.
    simulation = simulate({"history_days": 60, "future_days": 7, "peak_replays": 1})
    assert _hashes(simulation) == {"usage": "4feff7f722ea82cd", "events": "d87570e7c9a6220f",
                                   "truth": "35e01092daea51ac", "peaks": "68d9c4d40d4b54f4"}
    assert "workspace" not in simulation.usage.columns


def test_every_workspace_key_and_model_is_a_series_with_its_labels(org):
    series = org.usage[["workspace", "api_key", "model"]].drop_duplicates()
    assert len(series) == 2 + 2 + 1 + 2  # fast (2 keys), flat (2 models), young, rotating (old + new key)
    assert list(org.usage.columns[:4]) == ["timestamp", "model", "workspace", "api_key"]
    assert {"workspace", "api_key"} <= set(org.truth.columns)


def test_each_workspace_grows_at_its_own_rate(org):
    # Same model, same events: the ratio of two workspaces' expected traffic is their growth alone.
    sonnet = org.truth[(org.truth["model"] == "claude-sonnet-4-5") & (org.truth["target"] == "requests")]
    per_hour = sonnet.pivot_table(index="timestamp", columns="workspace", values="expected", aggfunc="sum")
    months = (per_hour.index - per_hour.index[0]) / pd.Timedelta(days=365.25 / 12)
    ratio = per_hour["fast"] / per_hour["flat"]  # equal shares: 1.15 ** months / 1.0 ** months
    np.testing.assert_allclose(ratio, 1.15 ** np.asarray(months), rtol=1e-9)


def test_keys_split_a_workspace_evenly_and_streams_are_independent(org):
    fast = org.truth[(org.truth["workspace"] == "fast") & (org.truth["target"] == "requests")]
    by_key = fast.groupby("api_key")[["expected", "actual"]].sum()
    assert by_key.loc["a", "expected"] == pytest.approx(by_key.loc["b", "expected"])
    assert by_key.loc["a", "actual"] != by_key.loc["b", "actual"]


def test_a_created_team_and_a_rotated_key(org):
    young = org.usage[org.usage["workspace"] == "young"]
    assert young["timestamp"].min() >= pd.Timestamp("2026-08-03", tz="UTC")
    rotating = org.usage[org.usage["workspace"] == "rotating"]
    old, new = (rotating[rotating["api_key"] == k]["timestamp"] for k in ("default", "default-rotated"))
    assert old.max() < pd.Timestamp("2026-09-01", tz="UTC") <= new.min()
    future_old = org.truth[(org.truth["workspace"] == "rotating") & (org.truth["api_key"] == "default")
                           & org.truth["is_future"]]
    assert future_old["expected"].sum() == 0


@pytest.mark.parametrize("bad, message", [
    ([{"name": "a"}, {"name": "a"}], "distinct names"),
    ([{"name": "a", "created": "2020-01-01"}], "not inside the history"),
    ([{"name": "a", "models": ["gpt-4"]}], "unknown models"),
    ([{"name": "a/b"}], "without '/'"),
    ([{"name": "a", "share": 0}], "share must be > 0"),
])
def test_invalid_workspaces_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**SHORT, workspaces=bad)


def test_workspace_objects_and_mappings_give_the_same_simulation():
    as_objects = simulate(SimulatorConfig(seed=2, **SHORT, workspaces=(Workspace("x", share=0.3),)))
    as_mapping = simulate({"seed": 2, **SHORT, "workspaces": [{"name": "x", "share": 0.3}]})
    pd.testing.assert_frame_equal(as_objects.usage, as_mapping.usage)
