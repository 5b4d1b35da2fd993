""""What a run writes" (docs/outputs.md) names every file the base catalog writes under data/.

A reader looks up a file they found in data/ on that page; a catalog entry added without a
line there (the forecast layout, the limits as read, the peak correction) left them guessing.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import yaml

from tests.project_copy import PROJECT_ROOT

OUTPUTS_PAGE = PROJECT_ROOT / "docs" / "outputs.md"
CATALOG_FILES = sorted((PROJECT_ROOT / "conf" / "base").glob("catalog_*.yml"))
CODE_SPAN = re.compile(r"`([^`]+)`")


def _written_paths() -> list[str]:
    """Paths under data/ of the base catalog's entries, the raw inputs and templated paths aside."""
    paths = []
    for catalog in CATALOG_FILES:
        for name, entry in (yaml.safe_load(catalog.read_text(encoding="utf-8")) or {}).items():
            path = entry.get("filepath") or entry.get("path") if isinstance(entry, dict) else None
            if name.startswith("_") or not isinstance(path, str) or "${" in path:
                continue
            if path.startswith("data/") and not path.startswith("data/01_raw/"):
                paths.append(path)
    return paths


def _patterns(spans: list[str]) -> list[str]:
    """fnmatch patterns of the page's code spans, `{parquet,csv}` alternatives expanded."""
    patterns = []
    for span in spans:
        match = re.search(r"\{([^}]+)\}", span)
        alternatives = match.group(1).split(",") if match else [""]
        patterns += [span.replace(match.group(0), alt) if match else span for alt in alternatives]
    return patterns


def _named(path: str, patterns: list[str]) -> bool:
    """A path is named by itself or its end (`gateway/litellm_config.yaml`), a folder holding it, a path inside
    it (`data/08_reporting/<version>/`), or a glob."""
    name = Path(path).name
    folders = [parent.as_posix() + "/" for parent in Path(path).parents if parent.as_posix() not in (".", "data")]
    return any(p == path or path.endswith("/" + p) or p in folders or p.startswith(path + "/")
               or ("*" in p and (fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p))) for p in patterns)


def test_outputs_page_names_every_file_the_catalog_writes():
    patterns = _patterns(CODE_SPAN.findall(OUTPUTS_PAGE.read_text(encoding="utf-8")))
    written = _written_paths()
    assert len(written) > 30, written  # the catalog was read
    missing = [path for path in written if not _named(path, patterns)]
    assert not missing, f"docs/outputs.md does not name: {missing}"
