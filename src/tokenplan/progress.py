"""Progress bars for a run's long steps (tuning trials, backtest folds), drawn with rich.

In a terminal a bar redraws in place under Kedro's log lines (both write through rich's
console); elsewhere (CI, output piped to a file) rich prints only the finished bar, one
line. A bar opened while another is shown joins it as a second line: rich allows one
live display at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["steps", "track"]

T = TypeVar("T")

_shown: list[Progress] = []  # the bar on screen, if any


def _new_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())


@contextmanager
def steps(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A bar of ``total`` steps; the function it gives advances it by one step, whatever it is passed.

    The function's signature fits an Optuna callback (``study.optimize(...,
    callbacks=[advance])``) as well as a plain call.
    """
    if _shown:
        progress, owner = _shown[-1], False
    else:
        progress, owner = _new_progress(), True
        progress.start()
        _shown.append(progress)
    task = progress.add_task(description, total=total)

    def advance(*_: Any) -> None:
        progress.advance(task)

    try:
        yield advance
    finally:
        if owner:
            progress.stop()
            _shown.remove(progress)


def track(items: Sequence[T], description: str) -> Iterator[T]:
    """``items`` one by one, with a bar that advances as each is done."""
    with steps(description, len(items)) as advance:
        for item in items:
            yield item
            advance()
