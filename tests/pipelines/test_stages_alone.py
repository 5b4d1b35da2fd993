"""Each registered pipeline can be run alone after a whole run (`kedro run --pipelines reporting`).

A stage's inputs that another stage makes must be files, not memory: the reporting stage read the
capacity figures and the model prices from memory, so re-rendering the report from a finished run
stopped on "capacity_figures: Data for MemoryDataset has not been saved yet".
"""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from tests.project_copy import PROJECT_ROOT

# Put in the catalog by the project's hooks at the start of every run (tokenplan.hooks).
FROM_HOOKS = {"run_record", "usage_is_simulated", "parameter_sources"}


@pytest.fixture(scope="module")
def catalog():
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env="base") as session:
        yield session.load_context().catalog


@pytest.mark.parametrize("name", ["ingestion", "feature_engineering", "training", "explainability", "planning",
                                  "reporting", "organisation", "monitor"])
def test_a_stage_reads_what_other_stages_made_from_files(catalog, name):
    free = {d for d in pipelines[name].inputs() if not d.startswith("params:") and d != "parameters"} - FROM_HOOKS
    in_memory = sorted(d for d in free if d not in catalog or isinstance(catalog.get(d), MemoryDataset))
    assert in_memory == [], f"pipeline {name!r} reads {in_memory} from memory: run alone, it cannot find them"
