"""Forecast accuracy metrics. Lower is better except coverage (closer to nominal)."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage", "mase", "pinball", "wape", "winkler"]


def wape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Weighted absolute percentage error: sum|y - y_hat| / sum|y|."""
    return float(np.sum(np.abs(y - y_hat)) / max(np.sum(np.abs(y)), 1e-12))


def mase(y: np.ndarray, y_hat: np.ndarray, scale: float) -> float:
    """Mean absolute error over ``scale`` (the in-sample seasonal-naive MAE)."""
    return float(np.mean(np.abs(y - y_hat)) / max(scale, 1e-12))


def pinball(y: np.ndarray, q_hat: np.ndarray, alpha: float) -> float:
    """Mean quantile (pinball) loss at level ``alpha``."""
    diff = y - q_hat
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of outcomes inside [lower, upper]."""
    return float(np.mean((y >= lower) & (y <= upper)))


def winkler(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float) -> float:
    """Mean Winkler interval score for a central (1 - alpha) interval."""
    width = upper - lower
    penalty = (2 / alpha) * (np.maximum(lower - y, 0) + np.maximum(y - upper, 0))
    return float(np.mean(width + penalty))
