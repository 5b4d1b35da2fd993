"""The README is a short start and the documentation site builds in strict mode, with no issue numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.project_copy import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
README = PROJECT_ROOT / "README.md"
MKDOCS_YML = PROJECT_ROOT / "mkdocs.yml"
README_MAX_LINES = 250
# "issue 9", "issues 9-12", "Issue 8's", "issue #4", "(#12)": tracker numbers mean nothing to
# a reader. An upstream reference such as "ibis#12101" names its project and is allowed.
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d|(?<![\w/])#\d+\b", re.IGNORECASE)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _build(config: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site_dir)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _issue_numbers(path: Path) -> list[str]:
    return [f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if ISSUE_NUMBER.search(line)]


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_docs_site_builds_in_strict_mode_with_search(tmp_path):
    result = _build(MKDOCS_YML, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    index = (tmp_path / "site" / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "anthropic_console" in index and "Capacity plan" in index  # search covers the pages' text
    assert (tmp_path / "site" / "your-data" / "request-logs" / "index.html").exists()


def test_strict_build_fails_on_a_link_to_a_missing_heading(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in DOCS.rglob("*.md"):
        (docs / page.relative_to(DOCS)).parent.mkdir(parents=True, exist_ok=True)
        (docs / page.relative_to(DOCS)).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    with (docs / "outputs.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [the crossings](capacity/index.md#no-such-heading).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(re.sub(r"(?m)^docs_dir: .*$", f"docs_dir: {docs}", MKDOCS_YML.read_text(encoding="utf-8")),
                      encoding="utf-8")
    result = _build(config, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-heading" in result.stdout + result.stderr


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load(MKDOCS_YML.read_text(encoding="utf-8"))
    in_nav = set(_nav_pages(config["nav"]))
    on_disk = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    assert on_disk == in_nav, f"not in nav: {sorted(on_disk - in_nav)}; missing files: {sorted(in_nav - on_disk)}"


def test_readme_is_a_short_start():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < README_MAX_LINES
    for must in ("make run", "make test", "--env usage_csv --params usage_file=", "data/08_reporting/",
                 "--env anthropic_console", "--env request_log", "--env anthropic_api", "make docs"):
        assert must in text, must


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    local = [link for link in MARKDOWN_LINK.findall(text) if not re.match(r"[a-z]+:|#", link)]
    assert local, "the README should link to the documentation pages"
    missing = [link for link in local if not (PROJECT_ROOT / link.split("#")[0]).exists()]
    assert not missing, missing


@pytest.mark.parametrize("path", [README, MKDOCS_YML, *sorted(DOCS.rglob("*.md"))],
                         ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_no_issue_numbers(path):
    assert not _issue_numbers(path)


def test_issue_number_check_catches_the_phrasings_it_is_for():
    for phrase in ("Reading your data right (issue 9)", "Issue 8's demo targets", "issues 9-12", "see #12"):
        assert ISSUE_NUMBER.search(phrase), phrase
    for phrase in ("ibis 12.0 emits a nameless DROP (ibis#12101)", "[x](index.md#crossings)", "issues a warning"):
        assert not ISSUE_NUMBER.search(phrase), phrase


def test_the_console_page_lists_every_column_the_reader_reads():
    """The export's columns were named only in the reader's docstring; the page a user opens lists them."""
    from tokenplan.sources import anthropic_console as console

    page = (DOCS / "your-data" / "anthropic-console.md").read_text()
    names = [*console.TIMESTAMP_NAMES, *console.MODEL_NAMES, *(n for v in console.TOKEN_NAMES.values() for n in v),
             *console.CACHE_WRITE_PARTS, console.CACHE_WRITE_TOTAL, *console.DIMENSIONS]
    assert not [n for n in names if f"`{n}`" not in page]
