"""Organisation: per-team, per-key and per-model spend that adds up, budgets, chargeback, LiteLLM team budgets."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.organisation.nodes import (
    backtest_hierarchy,
    charge_back,
    check_budgets,
    describe_series,
    plan_budgets,
    price_spend_backtest,
    price_spend_history,
    price_spend_plan,
    reconcile_organisation,
)


def create_pipeline(**kwargs) -> Pipeline:
    org, series = "params:organisation", "organisation_series"
    return Pipeline(
        [
            Node(func=describe_series, inputs=["usage_buckets", org, "params:feature_engineering.ended_days"],
                 outputs=series, name="describe_series"),
            Node(func=check_budgets, inputs=["budgets_raw", series], outputs="budgets", name="check_budgets"),
            Node(func=price_spend_history, inputs=["target_series", series, "history_rates"], outputs="spend_history",
                 name="price_spend_history"),
            Node(func=price_spend_plan, inputs=["forecast", "cost_forecast", series, "model_prices"],
                 outputs="spend_plan", name="price_spend_plan"),
            Node(func=price_spend_backtest, inputs=["backtest_predictions", series, "history_rates"],
                 outputs="spend_backtest", name="price_spend_backtest"),
            Node(func=backtest_hierarchy, inputs=["spend_history", "spend_backtest", series, org],
                 outputs="hierarchy_backtest", name="backtest_hierarchy"),
            Node(func=reconcile_organisation,
                 inputs=["spend_history", "spend_plan", series, org],
                 outputs="organisation_forecast", name="reconcile_organisation"),
            Node(func=plan_budgets,
                 inputs=["organisation_forecast", "cost_forecast", "spend_history", series, "budgets", org],
                 outputs=["team_budgets", "teams_at_risk", "budget_paths", "litellm_team_budgets"],
                 name="plan_budgets"),
            Node(func=charge_back, inputs=["organisation_forecast", "spend_history", series, org, "params:planning"],
                 outputs=["chargeback", "chargeback_rule"], name="charge_back"),
        ]
    )
