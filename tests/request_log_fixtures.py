"""Small, realistic request-level logs in the formats tokenplan reads, and a pandas reference.

Each writer returns the file it wrote and the same requests in the canonical vocabulary
(``timestamp`` UTC, ``model`` as normalised, ``input_tokens`` uncached, cache write /
read, ``output_tokens``, ``ok``), from which ``reference_buckets`` computes the expected
buckets and per-minute peaks the plain pandas way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tokenplan.ingestion.usage_buckets import normalise_model_id

AZURE_START = pd.Timestamp("2023-11-16 18:15:00")
BURSTGPT_START = "2023-05-10 00:00:00"


def _arrivals(rng: np.random.Generator, n: int, start: pd.Timestamp, minutes: int) -> np.ndarray:
    """Sorted arrival offsets in ns with a burst: a quarter of requests in three minutes."""
    span = minutes * 60 * 10**9
    calm = rng.integers(0, span, n - n // 4)
    burst_start = rng.integers(0, span - 3 * 60 * 10**9)
    burst = burst_start + rng.integers(0, 3 * 60 * 10**9, n // 4)
    return np.sort(np.concatenate([calm, burst]))


def write_azure_csv(path: Path, n: int = 3000, seed: int = 1) -> tuple[Path, pd.DataFrame]:
    """An Azure LLM inference trace: ``TIMESTAMP`` with 100 ns ticks, no model, no cache."""
    rng = np.random.default_rng(seed)
    offsets = _arrivals(rng, n, AZURE_START, 150)
    moments = AZURE_START + pd.to_timedelta(offsets // 100 * 100, unit="ns")
    ticks = (moments.nanosecond + moments.microsecond * 1000) // 100
    text = [f"{m:%Y-%m-%d %H:%M:%S}.{t:07d}" for m, t in zip(moments, ticks)]
    context = rng.lognormal(np.log(1500), 0.9, n).astype(int) + 1
    generated = rng.lognormal(np.log(60), 1.0, n).astype(int) + 1
    pd.DataFrame({"TIMESTAMP": text, "ContextTokens": context, "GeneratedTokens": generated}).to_csv(path, index=False)
    canonical = pd.DataFrame({
        "timestamp": moments.tz_localize("UTC"), "model": "azure-code", "input_tokens": context,
        "output_tokens": generated, "ok": True,
    })
    return path, canonical


def write_burstgpt_csv(path: Path, n: int = 3000, seed: int = 2) -> tuple[Path, pd.DataFrame]:
    """A BurstGPT trace: whole seconds since the trace start, failures have 0 response tokens."""
    rng = np.random.default_rng(seed)
    seconds = _arrivals(rng, n, pd.Timestamp(BURSTGPT_START), 180) // 10**9
    model = rng.choice(["ChatGPT", "GPT-4"], n, p=[0.8, 0.2])
    request = rng.integers(20, 4000, n)
    response = rng.integers(1, 800, n)
    failed = rng.random(n) < 0.05
    response[failed] = 0
    log_type = rng.choice(["Conversation log", "API log"], n)
    pd.DataFrame({
        "Timestamp": seconds, "Model": model, "Request tokens": request, "Response tokens": response,
        "Total tokens": request + response, "Log Type": log_type,
    }).to_csv(path, index=False)
    canonical = pd.DataFrame({
        "timestamp": pd.Timestamp(BURSTGPT_START, tz="UTC") + pd.to_timedelta(seconds, unit="s"),
        "model": [normalise_model_id(m) for m in model], "input_tokens": request, "output_tokens": response,
        "ok": ~failed, "log_type": log_type,
    })
    return path, canonical


def litellm_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """LiteLLM spend logs: ``prompt_tokens`` includes cache reads and writes (flattened here)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-02 08:00:00", tz="UTC")
    offsets = _arrivals(rng, n, start, 180) // 10**6 * 10**6  # Postgres keeps milliseconds
    models = ["claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5-20250929", "claude-haiku-4-5"]
    uncached = rng.integers(10, 3000, n)
    cache_read = np.where(rng.random(n) < 0.5, rng.integers(1000, 20000, n), 0)
    cache_write = np.where(rng.random(n) < 0.1, rng.integers(1000, 5000, n), 0)
    return pd.DataFrame({
        "request_id": [f"chatcmpl-{i:08x}" for i in range(n)],
        "call_type": "acompletion",
        "api_key": rng.choice(["88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b", "b2f1"], n),
        "spend": rng.random(n) / 100,
        "total_tokens": 0,
        "prompt_tokens": uncached + cache_read + cache_write,
        "completion_tokens": rng.integers(1, 1500, n),
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
        "startTime": start + pd.to_timedelta(offsets, unit="ns"),
        "endTime": start + pd.to_timedelta(offsets, unit="ns") + pd.Timedelta(seconds=3),
        "model": rng.choice(models, n, p=[0.4, 0.3, 0.3]),
        "team_id": rng.choice(np.array(["research", "support", None], dtype=object), n),
        "metadata": '{"user_api_key_alias": null}',
        "status": np.where(rng.random(n) < 0.03, "failure", "success"),
    })


def litellm_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical requests of a LiteLLM spend-log frame."""
    return pd.DataFrame({
        "timestamp": frame["startTime"], "model": [normalise_model_id(m) for m in frame["model"]],
        "input_tokens": frame["prompt_tokens"] - frame["cache_read_input_tokens"] - frame["cache_creation_input_tokens"],
        "cache_write_tokens": frame["cache_creation_input_tokens"],
        "cache_read_tokens": frame["cache_read_input_tokens"],
        "output_tokens": frame["completion_tokens"], "ok": frame["status"].eq("success"),
        "team_id": frame["team_id"].fillna("(none)"),
    })


def write_litellm_parquet(path: Path, n: int = 3000, seed: int = 3) -> tuple[Path, pd.DataFrame]:
    """LiteLLM spend logs as Parquet (``startTime`` a UTC timestamp)."""
    frame = litellm_frame(n, seed)
    frame.to_parquet(path, index=False)
    return path, litellm_canonical(frame)


def reference_buckets(requests: pd.DataFrame, bucket: str = "h", dimensions: tuple[str, ...] = (),
                      failed_tokens: bool = False) -> pd.DataFrame:
    """Buckets the plain pandas way: minute sums per series, then sums and max per bucket."""
    out = requests.copy()
    tokens = [c for c in ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens") if c in out]
    if not failed_tokens:
        out[tokens] = out[tokens].where(out["ok"], 0)
    out["rate_limited_input"] = out["input_tokens"] + out.get("cache_write_tokens", 0)
    out["requests"] = 1
    keys = ["model", *dimensions]
    per_minute = out.groupby([out["timestamp"].dt.floor("min"), *keys])[
        ["requests", *tokens, "rate_limited_input"]].sum().reset_index()
    per_minute["timestamp"] = per_minute["timestamp"].dt.floor(bucket)
    groups = per_minute.groupby(["timestamp", *keys])
    result = pd.concat([
        groups[["requests", *tokens]].sum(),
        groups["requests"].max().rename("peak_rpm"),
        groups["rate_limited_input"].max().rename("peak_itpm"),
        groups["output_tokens"].max().rename("peak_otpm"),
    ], axis=1).reset_index()
    return result.astype({c: float for c in result.columns if c not in ("timestamp", *keys)})
