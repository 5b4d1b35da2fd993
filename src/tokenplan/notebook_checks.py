"""Whether a table a notebook recomputes is the one the run saved.

A what-if is measured from a baseline: the notebook calls the planning nodes again on the run's
outputs, and the result must be the run's own ``capacity_plan`` or ``roi_summary``. When it is not
(parameters or ``conf/`` changed since the run, or outputs from more than one run), every what-if
starts from numbers the report does not have, so the notebook shows where they part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["not_reproduced"]


def not_reproduced(recomputed: pd.DataFrame, saved: pd.DataFrame, keys: list[str], columns: list[str],
                   rtol: float = 1e-6) -> pd.DataFrame:
    """The rows (by ``keys``) whose ``columns`` differ between ``recomputed`` and ``saved``, or that only one
    has: ``keys``, then each column beside ``<column> in the run``; empty when the two agree."""
    both = recomputed[[*keys, *columns]].merge(saved[[*keys, *columns]], on=keys, how="outer",
                                               suffixes=("", " in the run"), indicator=True)
    differs = both["_merge"] != "both"
    for column in columns:
        here = pd.to_numeric(both[column], errors="coerce").to_numpy(dtype=float)
        there = pd.to_numeric(both[f"{column} in the run"], errors="coerce").to_numpy(dtype=float)
        differs |= ~np.isclose(here, there, rtol=rtol, atol=0.0, equal_nan=True)
    return both.loc[differs, [*keys, *[c for column in columns for c in (column, f"{column} in the run")]]]
