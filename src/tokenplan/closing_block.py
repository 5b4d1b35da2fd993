"""The lines a successful run prints last: where the report is and the summary's headline.

They are read from the report the run wrote (its ``report.md``), not recomputed, so
the console and the report cannot disagree. A run that writes no report (one
pipeline, ``--pipelines training``) lists the files it wrote instead.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["outputs_block", "report_block", "shown_path", "summary_headline"]

REPORT_PAGE = "report.html"
REPORT_TEXT = "report.md"
_MARKUP = re.compile(r"\*\*|`")
_HORIZON = re.compile(r"^Forecast horizon (.+? to .+?) \(")
# The summary's note under its table when a model has no price (report.md.j2).
_UNPRICED = re.compile(r"^The cost leaves out (.+?): no price")
_PRICE_CHANGE = "**A list price changes inside the horizon:**"


def _plain(text: str) -> str:
    return _MARKUP.sub("", text).strip()


def _cells(row: str) -> list[str]:
    return [_plain(c) for c in row.strip().strip("|").split("|")]


def summary_headline(report_markdown: str) -> list[str]:
    """The summary's headline as plain lines: the data note, the horizon's cost (and the models it leaves out, without
    a price) and the bullets (limits, routes)."""
    text = report_markdown.split("\n## Summary", 1)
    if len(text) < 2:
        return []
    before, summary = text[0], text[1].split("\n## ", 1)[0]
    lines = []
    note = next((line for line in before.splitlines() if line.startswith(">")), None)
    if note:
        lines.append(_plain(note.lstrip("> ")).split(". ")[0].rstrip(".") + ".")
    horizon = next((m.group(1) for line in summary.splitlines() if (m := _HORIZON.match(_plain(line)))), None)
    rows = [line for line in summary.splitlines() if line.startswith("|")]
    cost = next((r for r in rows if _cells(r)[0].startswith("cost")), None)
    unpriced = next((m.group(1) for line in summary.splitlines() if (m := _UNPRICED.match(_plain(line)))), None)
    if rows and cost:
        header, values = _cells(rows[0]), _cells(cost)
        pairs = ", ".join(f"{h} {v}" for h, v in zip(header[1:], values[1:]) if h and v)
        # A cost without a model is no total: said beside it, as the report says it under its table.
        label = values[0] + (f" without {unpriced} (no price)" if unpriced else "")
        lines.append((f"Horizon {horizon}, " if horizon else "") + f"{label}: {pairs}")
    # A list price that changes inside the horizon moves the cost: said beside it, as the report says it.
    lines += [_plain(line) for line in summary.splitlines() if line.startswith(_PRICE_CHANGE)]
    lines += [_plain(line[2:]) for line in summary.splitlines() if line.startswith("- **")]
    return lines


def report_block(folder: Path, relative_to: Path | None = None) -> list[str]:
    """``Report: <folder>/report.html`` and the summary's headline, indented; [] without a report."""
    page, markdown = folder / REPORT_PAGE, folder / REPORT_TEXT
    if not page.exists() and not markdown.exists():
        return []
    shown = shown_path(page if page.exists() else markdown, relative_to)
    headline = summary_headline(markdown.read_text(encoding="utf-8")) if markdown.exists() else []
    return ["", f"Report: {shown}", *(f"  {line}" for line in headline)]


def outputs_block(paths: list[Path], relative_to: Path | None = None) -> list[str]:
    """``Written:`` and the files (or folders) a run without a report wrote; [] if none."""
    existing = sorted({shown_path(p, relative_to) for p in paths if p.exists()})
    return ["", "Written:", *(f"  {p}" for p in existing)] if existing else []


def shown_path(path: Path, relative_to: Path | None) -> str:
    """``path`` relative to ``relative_to`` (the project) where it lies inside it, else absolute."""
    path = Path(path).resolve()
    if relative_to is not None:
        try:
            return str(path.relative_to(Path(relative_to).resolve()))
        except ValueError:
            pass
    return str(path)
