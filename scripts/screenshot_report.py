"""Screenshot the latest report.html in headless Chromium, as a reviewer's browser shows it.

    .venv/bin/python scripts/screenshot_report.py                 # latest data/08_reporting/<version>/
    .venv/bin/python scripts/screenshot_report.py path/to/report.html --height 2400 --out shot.png

Needs Debian's ``chromium`` (``apt-get install -y chromium``); the page is self-contained,
so the browser runs with networking features off and a throwaway profile. The PNG is
written beside the report (``report_screenshot.png``) unless ``--out`` says otherwise:
open it to check that the summary fills the first screen and the figures are legible.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPORTS = Path("data/08_reporting")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def latest_report(root: Path = REPORTS) -> Path:
    """The newest ``<root>/<version>/report.html``."""
    reports = sorted(root.glob("*/report.html"))
    if not reports:
        raise SystemExit(f"no report.html under {root}/: run `make run` first")
    return reports[-1]


def screenshot(report: Path, out: Path, width: int, height: int) -> Path:
    """``report`` rendered at ``width`` x ``height`` CSS pixels into ``out`` (PNG)."""
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={profile}", f"--screenshot={out.resolve()}", f"--window-size={width},{height}",
                   report.resolve().as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 or not out.exists():
        raise SystemExit(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, help="report.html (default: the latest run's)")
    parser.add_argument("--out", type=Path, help="PNG to write (default: beside the report)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args(argv)
    report = args.report or latest_report()
    out = args.out or report.with_name("report_screenshot.png")
    print(screenshot(report, out, args.width, args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
