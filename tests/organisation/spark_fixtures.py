"""A small organisation's request-level log, drawn from the simulator, for the Spark test.

The simulator's hourly usage per team, key and model is thinned to a few requests an
hour (about one per 50 simulated requests), each at a random second of its hour, the
hour's tokens split among them: tens of thousands of rows, so both engines aggregate it
in seconds, with the organisation's growth, seasons, new and rotated keys intact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tokenplan.simulator import simulate

SMALL_ORGANISATION = {
    "seed": 11,
    "history_end": "2026-10-01",
    "history_days": 240,
    "future_days": 30,
    "peak_replays": 0,
    "workspaces": [
        {"name": "search", "share": 0.5, "monthly_growth": 0.06, "models": ["claude-sonnet-4-5"],
         "api_keys": ["web", "batch"]},
        {"name": "support", "share": 0.4, "monthly_growth": 0.02, "models": ["claude-haiku-4-5"]},
        {"name": "labs", "share": 0.1, "monthly_growth": 0.10, "models": ["claude-opus-4-5"], "created": "2026-05-04"},
    ],
}
REQUESTS_PER_ROW = 50
TOKENS = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens")


def write_organisation_log(path: Path, seed: int = 3) -> pd.DataFrame:
    """Write the small organisation's request log as Parquet at ``path``; return it."""
    rng = np.random.default_rng(seed)
    usage = simulate(SMALL_ORGANISATION).usage
    usage = usage[usage["timestamp"] < pd.Timestamp(SMALL_ORGANISATION["history_end"], tz="UTC")]
    rows = np.maximum(np.rint(usage["requests"].to_numpy() / REQUESTS_PER_ROW), 1).astype(int)
    rows[usage["requests"].to_numpy() == 0] = 0
    hour = np.repeat(np.arange(len(usage)), rows)
    seconds = rng.integers(0, 3600, len(hour))
    log = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(len(hour))],
        "timestamp": pd.DatetimeIndex(usage["timestamp"]).tz_convert(None)[hour] + pd.to_timedelta(seconds, unit="s"),
        "model": usage["model"].to_numpy()[hour],
        "workspace": usage["workspace"].to_numpy()[hour],
        "api_key": usage["api_key"].to_numpy()[hour],
        "status": "ok",
    })
    for column in TOKENS:
        # The hour's tokens in equal integer shares, the remainder on its first rows.
        total = usage[column].to_numpy()[hour]
        count = rows[hour]
        rank = np.arange(len(hour)) - np.repeat(np.cumsum(rows) - rows, rows)
        log[column] = total // count + (rank < total % count)
    log["timestamp"] = log["timestamp"].dt.tz_localize("UTC")
    # Microseconds: Spark reads no nanosecond Parquet timestamps (PARQUET_TYPE_ILLEGAL).
    log.to_parquet(path, index=False, coerce_timestamps="us")
    return log
