"""Forecasting: the layout a history supports, features, candidate methods and the choice
between them, tuning, backtests, calibrated intervals and totals, and their explanations."""
