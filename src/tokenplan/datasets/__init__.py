"""Project datasets that kedro-datasets does not provide.

- ``DemoTrafficDataset``: the embedded demo, materialised from the seeded simulator.
- ``OptionalCSVDataset``: a CSV input that may be absent (an empty events calendar).
- ``ReportDirectoryDataset``: one folder per run under ``data/08_reporting/<version>/``.
"""

from tokenplan.datasets.demo_traffic import DemoTrafficDataset
from tokenplan.datasets.optional_csv import OptionalCSVDataset
from tokenplan.datasets.report_directory import ReportDirectoryDataset

__all__ = ["DemoTrafficDataset", "OptionalCSVDataset", "ReportDirectoryDataset"]
