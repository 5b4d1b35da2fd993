"""What a finished run prints last: the report's path and its summary's headline, read from the report."""

from __future__ import annotations

from pathlib import Path

from tokenplan.closing_block import outputs_block, report_block, summary_headline

REPORT = """\
# tokenplan quarterly plan — run 2026-12-04 08:57 UTC

> **This report's data is simulated.** It was made from the project's built-in demo.

## Summary

Forecast horizon **2026-10-01 to 2026-12-31** (92 daily buckets, UTC), all models together.

| | forecast P50 | P10 – P90 | 2026 Q3 actual | change |
|---|---|---|---|---|
| requests | **6.94M** | 5.99M – 8.04M | 5.88M | +18% |
| **cost (USD, list prices)** | **$81,799** | $71,482 – $93,614 | $65,271 | +25% |

- **First rate limit to bind:** Claude Opus 4.x rpm (limit 125) is reached at P90 in **2026-10-01**.
- **Best route:** batch saves **$4,275 a month**.

**Largest risks of this plan**:

1. **Short history:** 548 days.

## Forecast

- **not a headline:** a bullet of another section.
"""


def test_the_headline_is_the_summarys_cost_row_and_bullets_in_plain_text():
    assert summary_headline(REPORT) == [
        "This report's data is simulated.",
        "Horizon 2026-10-01 to 2026-12-31, cost (USD, list prices): forecast P50 $81,799, P10 – P90 $71,482 – "
        "$93,614, 2026 Q3 actual $65,271, change +25%",
        "First rate limit to bind: Claude Opus 4.x rpm (limit 125) is reached at P90 in 2026-10-01.",
        "Best route: batch saves $4,275 a month.",
    ]


def test_the_block_names_report_html_relative_to_the_project(tmp_path: Path):
    folder = tmp_path / "data" / "08_reporting" / "2026-12-04T08.57.00.000Z"
    folder.mkdir(parents=True)
    (folder / "report.md").write_text(REPORT)
    (folder / "report.html").write_text("<!DOCTYPE html>")

    block = report_block(folder, tmp_path)

    assert block[1] == "Report: data/08_reporting/2026-12-04T08.57.00.000Z/report.html"
    assert block[3].startswith("  Horizon 2026-10-01 to 2026-12-31, cost")
    assert report_block(tmp_path / "nothing", tmp_path) == []


def test_a_run_without_a_report_lists_the_files_it_wrote(tmp_path: Path):
    written = tmp_path / "data" / "03_primary" / "usage_buckets.parquet"
    written.parent.mkdir(parents=True)
    written.write_bytes(b"x")

    assert outputs_block([written, tmp_path / "never_written.parquet"], tmp_path) == [
        "", "Written:", "  data/03_primary/usage_buckets.parquet"]
    assert outputs_block([], tmp_path) == []
