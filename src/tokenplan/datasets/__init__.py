"""Project datasets that kedro-datasets does not provide.

- ``DemoTrafficDataset``: the embedded demo, materialised from the seeded simulator.
- ``UsageCSVDataset``: a usage CSV with its separator and decimal mark found (``;`` and ``3081000,5``).
- ``OptionalCSVDataset``: a CSV input that may be absent (an empty events calendar).
- ``ReportDirectoryDataset``: one folder per run under ``data/08_reporting/<version>/``.
- ``PreviousReportDataset``: the earlier report folders' tables, for "what changed since" and the last plan's grade.
- ``raw_usage`` sources: ``AnthropicUsageDataset`` / ``AnthropicCostDataset`` (Admin API),
  ``OpenAIUsageDataset``, ``AnthropicConsoleCSVDataset``, ``UsageFolderDataset``.
- ``rate_limits_raw`` from the Admin API: ``AnthropicRateLimitsDataset``.
"""

from tokenplan.datasets.anthropic_admin import AnthropicCostDataset, AnthropicUsageDataset
from tokenplan.datasets.anthropic_rate_limits import AnthropicRateLimitsDataset
from tokenplan.datasets.anthropic_console import AnthropicConsoleCSVDataset
from tokenplan.datasets.demo_traffic import DemoTrafficDataset
from tokenplan.datasets.optional_csv import OptionalCSVDataset
from tokenplan.datasets.openai_usage import OpenAIUsageDataset
from tokenplan.datasets.previous_report import PreviousReportDataset
from tokenplan.datasets.report_directory import ReportDirectoryDataset
from tokenplan.datasets.usage_csv import UsageCSVDataset
from tokenplan.datasets.usage_folder import UsageFolderDataset

__all__ = [
    "AnthropicConsoleCSVDataset",
    "AnthropicCostDataset",
    "AnthropicRateLimitsDataset",
    "AnthropicUsageDataset",
    "DemoTrafficDataset",
    "OpenAIUsageDataset",
    "OptionalCSVDataset",
    "PreviousReportDataset",
    "ReportDirectoryDataset",
    "UsageCSVDataset",
    "UsageFolderDataset",
]
