"""The share of each model's tokens in long-context requests, measured on the usage history.

Anthropic bills a request above 200K input tokens at a higher tier (Sonnet 4.5: $6 / $22.50
per million input / output tokens instead of $3 / $15), and the forecast does not know
which future requests will be that long. So each token type's rate is the blend of the
base and long-context rates at the share of that type's tokens in long-context requests
over the recent history (``tokenplan.planning.prices.with_long_context_share``): the
forecast assumes the share stays where it was. Only sources that say the window
(``context_window``: the Console export, the Admin API grouped by it, a usage file with
the column or with ``long_context_*`` counts) give a share; without one, every token is
priced at the base tier.
"""

from __future__ import annotations

import pandas as pd

from tokenplan.planning.prices import PRICED_TARGETS
from tokenplan.planning.recent_history import recent_rows_by_model
from tokenplan.schemas import LONG_CONTEXT_TOKENS

__all__ = ["long_context_shares"]

_PARTS = {whole: part for part, whole in LONG_CONTEXT_TOKENS.items() if whole in PRICED_TARGETS}


def long_context_shares(usage_buckets: pd.DataFrame, days: int) -> dict[str, dict[str, float]]:
    """Per model and token type, long-context tokens / all tokens over the ``days`` days ending on its
    last day with tokens whose window is known; a model whose usage never says is left out."""
    parts = {whole: part for whole, part in _PARTS.items() if part in usage_buckets.columns}
    if not parts:
        return {}
    wholes = usage_buckets[list(parts)]
    known = usage_buckets[usage_buckets[list(parts.values())].notna().any(axis=1) & (wholes > 0).any(axis=1)]
    return {model: {whole: _share(recent[part].sum(), recent[whole].sum()) for whole, part in parts.items()}
            for model, recent in recent_rows_by_model(known, days)}


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0
