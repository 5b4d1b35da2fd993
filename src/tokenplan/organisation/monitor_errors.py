"""The monitor's user-fixable error, apart from the monitor so the CLI's error messages import it cheaply."""

from __future__ import annotations

__all__ = ["NoPlanError"]


class NoPlanError(Exception):
    """No report folder is a plan of the monitored usage; the message says how to make one."""
