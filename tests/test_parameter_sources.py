"""Where a run's parameters were set (``--params``, the run's environment), and the labels made from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.project_copy import make_project_copy
from tokenplan.parameter_sources import parameter_sources

SHIPPED = {"planning": {"roi": {"annual_discount_rate": 0.08, "discount_rate_source": "assumed for the demo"},
                        "routes": {"definitions": [{"name": "a", "eligible_share": 0.3}], "overrides": {}}}}


def test_a_parameter_set_with_params_or_changed_in_an_environment_is_named_with_where():
    effective = {"planning": {"roi": {"annual_discount_rate": 0.12, "discount_rate_source": "assumed for the demo"},
                              "routes": {"definitions": [{"name": "a", "eligible_share": 0.5}],
                                         "overrides": {"a": {"one_time": {"engineering_days": 2}}}}}}
    runtime = {"planning": {"roi": {"annual_discount_rate": 0.12},
                            "routes": {"overrides": {"a": {"one_time": {"engineering_days": 2}}}}}}
    assert parameter_sources(SHIPPED, effective, runtime, "local") == {
        "planning.roi.annual_discount_rate": "--params",
        "planning.routes.definitions.0.eligible_share": "conf/local",
        "planning.routes.overrides.a.one_time.engineering_days": "--params"}


def test_a_params_value_equal_to_the_shipped_one_is_still_the_users():
    assert parameter_sources(SHIPPED, SHIPPED, {"planning.roi.annual_discount_rate": 0.08}, "local") == {
        "planning.roi.annual_discount_rate": "--params"}
    assert parameter_sources(SHIPPED, SHIPPED, None, "local") == {}


@pytest.mark.e2e
def test_a_run_puts_where_its_parameters_were_set_in_the_catalog(tmp_path: Path):
    """conf/local sets the discount rate alone (its source stays the shipped "assumed for the demo"), --params a
    relay's FX rate: both are the user's in ``parameter_sources``, which compute_roi labels by."""
    project = make_project_copy(tmp_path)
    (project / "conf" / "local" / "parameters_planning.yml").write_text(
        "planning:\n  roi:\n    annual_discount_rate: 0.1\n")
    bootstrap_project(project)
    runtime = {"planning": {"routes": {"overrides": {"relay_cny": {"fx_rate": 7.3}}}}}
    with KedroSession.create(project_path=project, runtime_params=runtime) as session:
        context = session.load_context()
        sources = context.catalog["parameter_sources"].load()
        assert context.params["planning"]["roi"]["discount_rate_source"].startswith("assumed for the demo")
    assert sources == {"planning.roi.annual_discount_rate": "conf/local",
                       "planning.routes.overrides.relay_cny.fx_rate": "--params"}


def test_a_value_an_environment_file_sets_is_the_users_even_where_it_equals_the_shipped_one(tmp_path: Path):
    from tokenplan.parameter_sources import environment_parameters

    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "parameters_planning.yml").write_text("planning:\n  roi:\n    annual_discount_rate: 0.08\n")
    (tmp_path / "local" / "credentials.yml").write_text("api_key: secret\n")  # not a parameters file
    own = environment_parameters(tmp_path, "local", ["parameters*", "parameters*/**", "**/parameters*"])

    assert own == {"planning": {"roi": {"annual_discount_rate": 0.08}}}
    assert parameter_sources(SHIPPED, SHIPPED, None, "local", own) == {
        "planning.roi.annual_discount_rate": "conf/local"}
    assert environment_parameters(tmp_path, "staging", ["parameters*"]) == {}
