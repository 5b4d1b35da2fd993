"""Progress bars on long steps: a bar per step kind, one final line when not in a terminal."""

from __future__ import annotations

import io

import rich
from rich.console import Console

from tokenplan import progress


def _captured(monkeypatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=out, force_terminal=False, width=100))
    return out


def test_track_yields_every_item_and_prints_the_finished_bar_once(monkeypatch):
    out = _captured(monkeypatch)

    assert list(progress.track(["a", "b", "c"], "backtest folds")) == ["a", "b", "c"]

    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and "backtest folds" in lines[0] and "3/3" in lines[0], out.getvalue()


def test_steps_advance_as_an_optuna_callback_and_a_nested_bar_joins_the_shown_one(monkeypatch):
    out = _captured(monkeypatch)

    with progress.steps("Optuna tuning trials", 2) as trial_done:
        for _ in progress.track([1, 2, 3, 4], "backtest folds"):
            pass
        trial_done("study", "trial")  # Optuna calls back with (study, trial)
        trial_done("study", "trial")

    text = out.getvalue()
    assert "Optuna tuning trials" in text and "2/2" in text and "4/4" in text, text
    assert not progress._shown
