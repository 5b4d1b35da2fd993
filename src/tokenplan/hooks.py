"""Project hooks."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from tokenplan.source_labels import label_source


class SourceLabelHooks:
    """Tag every loaded dataset with where it came from (see ``tokenplan.source_labels``).

    Validation at the ingestion boundary then names the file in its error message
    without nodes having to know file paths, which only the catalog should know.
    """

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        label_source(data, self._label(dataset_name))

    def _label(self, dataset_name: str) -> str:
        try:
            description = self._catalog.get(dataset_name)._describe()
        except Exception:  # a label is a courtesy: never fail a load over it
            return dataset_name
        location = description.get("filepath") or description.get("path") or description.get("table_name")
        return f"{dataset_name} ({location})" if location else dataset_name


class SimulatedDataHooks:
    """Put ``usage_is_simulated`` in the catalog: whether ``raw_usage`` is the built-in demo.

    The report says plainly when its data is simulated. Deciding it from the catalog
    (the dataset's type), not from a parameter, keeps it right whichever way a user
    points ``raw_usage`` at their own data (an environment, ``conf/local``, a notebook).
    """

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        from tokenplan.datasets import DemoTrafficDataset

        try:
            simulated = isinstance(catalog.get("raw_usage"), DemoTrafficDataset)
        except Exception:  # no raw_usage (a partial catalog): nothing says it is simulated
            simulated = False
        catalog["usage_is_simulated"] = simulated
