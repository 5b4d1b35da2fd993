"""What the feature-engineering nodes print: measured effects applied one per line, the rest on one line."""

from __future__ import annotations

import logging

from tokenplan.pipelines.feature_engineering.nodes import _log_estimates


def test_effects_not_applied_share_one_line_and_applied_ones_keep_theirs(caplog):
    estimates = [(f"model-{i}", False, "within the noise", f"x0.9{i} from 17 past month(s) (0.5 standard errors)")
                 for i in range(7)]
    estimates.append(("model-7", True, "", "x1.40 from 17 past month(s) (4.2 standard errors from none)"))
    with caplog.at_level(logging.INFO, logger="tokenplan.pipelines.feature_engineering.nodes"):
        _log_estimates("days of the month", estimates)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "days of the month, model-7: x1.40 from 17 past month(s) (4.2 standard errors from none): applied",
        "days of the month measured but not applied for 7: model-0 x0.90 (within the noise); model-1 x0.91 "
        "(within the noise); model-2 x0.92 (within the noise); model-3 x0.93 (within the noise); and 3 more"]


def test_nothing_measured_prints_nothing(caplog):
    with caplog.at_level(logging.INFO):
        _log_estimates("year-end holidays", [])
    assert not caplog.records
