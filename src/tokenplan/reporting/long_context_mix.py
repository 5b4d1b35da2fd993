"""What the report says of long-context pricing: per model, the shares priced at the long-context tier."""

from __future__ import annotations

from typing import Any

from tokenplan.planning.prices import PRICED_TARGETS, UnitPrices

__all__ = ["long_context_days", "long_context_mix"]


def long_context_days(prices: dict[str, UnitPrices | None]) -> int:
    """The days over which the usage said which tokens were in long-context requests (even none of
    them); 0 where it does not say (no ``context_window``)."""
    return max((p.long_context_share_days for p in prices.values() if p is not None and p.long_context_shares),
               default=0)


def long_context_mix(prices: dict[str, UnitPrices | None]) -> list[dict[str, Any]]:
    """Models with tokens in long-context requests: per token type with a share above 0, the share and
    its long-context rate (USD per MTok; None without a tier), the days measured over, the tier's threshold."""
    rows = []
    for p in (p for p in prices.values() if p is not None):
        shares = {t: p.long_context_shares.get(t, 0.0) for t in PRICED_TARGETS}
        if not any(share > 0 for share in shares.values()):
            continue
        rows.append({"model": p.model, "days": p.long_context_share_days, "tiered": bool(p.long_context_usd_per_mtok),
                     "above": f"{p.long_context_above_tokens:,}" if p.long_context_above_tokens else None,
                     "types": [{"token_type": t, "share": share, "rate": p.long_context_usd_per_mtok.get(t)}
                               for t, share in shares.items() if share > 0]})
    return rows
