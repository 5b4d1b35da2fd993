"""The notebooks run top to bottom, cleanly: no errors, no warnings, no log lines.

The exploration notebook is executed here in a throwaway copy of the project (conf,
pyproject.toml, src and the notebooks, empty data folders) in the Kedro ``test``
environment, so it does not depend on, or write to, the working copy's ``data/`` and
stays fast: with no ``usage_buckets`` yet, it loads ``raw_usage``, the small test
simulation. The diagnostics notebook needs a finished run's outputs, so
``tests/test_e2e.py`` executes it in the end-to-end test's project after its run.

The kernel is this interpreter (the project's venv under ``make test``), declared as
the ``python3`` kernelspec in a temporary folder: a ``python3`` kernelspec installed
elsewhere on the machine (system Jupyter, another venv) is never picked up.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import KernelManager  # noqa: E402

from tests.project_copy import PROJECT_ROOT, make_project_copy  # noqa: E402
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
EXPLORE = PROJECT_ROOT / "notebooks" / "01_explore_usage.ipynb"
# What a log line or a warning looks like in a cell's output (Kedro's rich handler or plain).
_NOISE = re.compile(r"\b(INFO|WARNING|DEBUG)\b|Warning:")


def _kernel_manager(kernel_dir: Path) -> KernelManager:
    """A kernel manager whose only ``python3`` kernel is ``sys.executable``."""
    spec_dir = kernel_dir / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tokenplan venv)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def execute_notebook(notebook: Path, kernel_dir: Path, monkeypatch) -> nbformat.NotebookNode:
    """``notebook`` executed in the Kedro ``test`` environment; fails the test on a cell error."""
    # Inherited by the kernel process: the small simulation, no telemetry, no GUI backend.
    monkeypatch.setenv("KEDRO_ENV", "test")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("KEDRO_LOGGING_CONFIG", raising=False)
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, km=_kernel_manager(kernel_dir), timeout=180,
                                     resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        # Some errors (e.g. from IPython magics) come without a traceback: show the message too.
        pytest.fail(f"{error.ename}: {error.evalue}\n{error}")
    return nb


def assert_runs_clean(nb: nbformat.NotebookNode) -> list[dict]:
    """No error, nothing on stderr and no log line or warning in any output; the images."""
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert not [out.text for out in outputs if out.output_type == "stream" and out.name == "stderr"]
    texts = [out.get("text", "") if out.output_type == "stream" else out.get("data", {}).get("text/plain", "")
             for out in outputs]
    noise = [text[:300] for text in texts if _NOISE.search(text)]
    assert not noise, noise
    return [out for out in outputs if "image/png" in out.get("data", {})]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        "store the notebook without outputs (clear them before committing)"


def test_explore_notebook_runs_clean(tmp_path, monkeypatch):
    project = make_project_copy(tmp_path / "project", notebooks=True)
    nb = execute_notebook(project / "notebooks" / EXPLORE.name, tmp_path / "kernels", monkeypatch)
    images = assert_runs_clean(nb)
    assert len(images) >= 2, "expected the daily usage and weekly profile figures"
    # The notebook read the test simulation, not some other data.
    assert list((project / "data" / "01_raw" / "demo_test").glob("usage-*.parquet"))


def _user_daily_usage(project: Path, start: str, days: int) -> None:
    """``days`` days from ``start`` of a user's daily usage (two workspaces, no request counts, no events), as
    the last run's ``usage_buckets`` in ``project``."""
    import numpy as np
    import pandas as pd

    stamps = pd.date_range(start, periods=days, freq="D", tz="UTC")
    rng = np.random.default_rng(0)
    usage = pd.DataFrame([{"timestamp": d, "series": f"claude-sonnet-4-5/{w}", "model": "claude-sonnet-4-5",
                           "requests": np.nan, "input_tokens": float(rng.integers(1e6, 2e6)),
                           "cache_write_tokens": 0.0, "cache_read_tokens": 0.0,
                           "output_tokens": float(rng.integers(1e5, 2e5))}
                          for d in stamps for w in ("ws-a", "ws-b")])
    usage.attrs = {"bucket": "D", "raw_source": "raw_usage (data/01_raw/our_usage.csv)"}
    usage.to_parquet(project / "data" / "03_primary" / "usage_buckets.parquet")
    pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c in ("start", "end") else str)
                  for c in ("start", "end", "name", "kind", "scope")}).to_parquet(
        project / "data" / "03_primary" / "events_calendar.parquet")


def test_explore_notebook_shows_a_users_daily_usage_and_says_whose(tmp_path, monkeypatch):
    """After a run on a user's file: daily buckets, workspaces as series, no request counts, no
    events. The notebook names that data as the user's, never as the demo, and draws it."""
    project = make_project_copy(tmp_path / "project", notebooks=True)
    _user_daily_usage(project, "2026-06-01", days=122)  # to 2026-09-30

    nb = execute_notebook(project / "notebooks" / EXPLORE.name, tmp_path / "kernels", monkeypatch)
    images = assert_runs_clean(nb)
    assert len(images) >= 2, "expected the daily usage and weekly profile figures"
    assert "demo" not in nb.cells[0].source.splitlines()[0].lower()
    printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "usage_buckets from raw_usage (data/01_raw/our_usage.csv):" in printed
    assert "daily buckets, 2 series" in printed and "built-in demo" not in printed
    # The usage has no request counts: its totals table leaves the column out, where it had read 0.0 for each.
    tables = [re.sub(r"\x1b\[[0-9;]*m", "", out.get("data", {}).get("text/plain", ""))
              for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    table = next(t for t in tables if "(millions)" in t)
    assert "requests (millions)" not in table and "input_tokens (millions)" in table, table


def test_explore_notebook_names_each_date_tick_once_and_the_days_a_short_profile_covers(tmp_path, monkeypatch):
    """41 days of history: the daily chart's ticks (a week apart) each name their own day, where "%Y-%m" read
    "2026-10" four times; the weekly profile says it covers all 41 days, not "the last 8 weeks"."""
    project = make_project_copy(tmp_path / "project", notebooks=True)
    _user_daily_usage(project, "2026-10-07", days=41)
    notebook = project / "notebooks" / EXPLORE.name
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('print("ticks:", "|".join(t.get_text() for t in '
                                              'axes[-1, 0].get_xticklabels()))\nprint("title:", ax.get_title())'))
    nbformat.write(nb, notebook)

    nb = execute_notebook(notebook, tmp_path / "kernels", monkeypatch)
    assert_runs_clean(nb)
    printed = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    ticks = [t for t in printed.split("ticks:")[1].splitlines()[0].strip().split("|") if t]
    assert len(ticks) >= 4 and len(set(ticks)) == len(ticks), ticks
    title = printed.split("title:")[1].strip()
    assert "all 41 days of history, 2026-10-07 to 2026-11-16" in title and "last 8 weeks" not in title, title


def test_last_run_is_the_newest_reports_run_record(tmp_path):
    """The notebooks take their parameters from the newest report folder's ``data_source.json``."""
    from kedro.io import DataCatalog

    from tokenplan.datasets.previous_report import PreviousReportDataset
    from tokenplan.notebook_setup import last_run

    reports = tmp_path / "08_reporting"
    catalog = DataCatalog({"previous_report": PreviousReportDataset(path=str(reports))})
    assert last_run(catalog) is None  # before any run: conf's defaults
    for version, run in (("2026-12-01T00.00.00.000Z", {"env": "usage_csv", "runtime_params": {"x": 1}}),
                         ("2026-12-07T05.26.53.755Z", {"env": "usage_csv", "command": "kedro run ...",
                                                       "runtime_params": {"feature_engineering": {"freq": "h"}}})):
        (reports / version).mkdir(parents=True)
        (reports / version / "report.md").write_text("# Plan\n")
        (reports / version / "data_source.json").write_text(json.dumps({"kind": "usage data", "run": run}))
    record = last_run(catalog)
    assert record["report"] == "2026-12-07T05.26.53.755Z"
    assert record["env"] == "usage_csv" and record["runtime_params"] == {"feature_engineering": {"freq": "h"}}
    # A report from before runs were recorded: its name, no parameters to take.
    (reports / "2026-12-08T00.00.00.000Z").mkdir()
    (reports / "2026-12-08T00.00.00.000Z" / "report.md").write_text("# Plan\n")
    assert last_run(catalog) == {"report": "2026-12-08T00.00.00.000Z"}


def test_a_recomputed_baseline_that_is_not_the_runs_is_shown_row_by_row():
    import pandas as pd

    from tokenplan.notebook_checks import not_reproduced

    saved = pd.DataFrame({"model_group": ["Opus", "Sonnet"], "metric": ["rpm", "rpm"], "p50": [132.34, 40.0],
                          "p90": [254.04, 80.0], "limit": [40.0, float("nan")]})
    assert not_reproduced(saved.copy(), saved, ["model_group", "metric"], ["p50", "p90", "limit"]).empty
    # Conf's daily freq on an hourly run's buckets: the same plan 27 times lower.
    read_as_days = saved.assign(p50=saved["p50"] / 27, p90=saved["p90"] / 27).iloc[[0]]
    differs = not_reproduced(read_as_days, saved, ["model_group", "metric"], ["p50", "p90", "limit"])
    assert differs["model_group"].tolist() == ["Opus", "Sonnet"]  # Sonnet: only in the run's plan
    assert differs.loc[differs["model_group"] == "Opus", "p50 in the run"].item() == 132.34


def test_explore_notebook_draws_each_series_in_one_colour_in_both_charts(tmp_path, monkeypatch):
    """The daily chart drew the series by size, the weekly profile by name, each in the colour cycle's order: the
    same model was orange in one and green in the other."""
    import nbformat
    import pandas as pd

    project = make_project_copy(tmp_path / "project", notebooks=True)
    _user_daily_usage(project, "2026-06-01", days=70)
    buckets = project / "data" / "03_primary" / "usage_buckets.parquet"
    usage = pd.read_parquet(buckets)
    smaller = usage["series"] == "claude-sonnet-4-5/ws-a"  # the larger series (drawn first) is last by name
    usage.loc[smaller, ["input_tokens", "output_tokens"]] *= 0.5
    usage.to_parquet(buckets)
    notebook = project / "notebooks" / EXPLORE.name
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        'from matplotlib.colors import to_hex\n'
        'for chart, axis in (("daily", axes[0, 0]), ("profile", ax)):\n'
        '    print(chart, "|".join(f"{l.get_label()}={to_hex(l.get_color())}" for l in axis.get_lines()\n'
        '                          if not l.get_label().startswith(("_", "launch"))))'))
    nbformat.write(nb, notebook)

    nb = execute_notebook(notebook, tmp_path / "kernels", monkeypatch)
    assert_runs_clean(nb)
    printed = "".join(out.get("text", "") for out in nb.cells[-1].outputs).splitlines()
    colours = {line.split(" ", 1)[0]: dict(pair.split("=") for pair in line.split(" ", 1)[1].split("|"))
               for line in printed}
    assert set(colours["daily"]) == {"claude-sonnet-4-5/ws-a", "claude-sonnet-4-5/ws-b"}, colours
    assert colours["daily"] == colours["profile"], colours
