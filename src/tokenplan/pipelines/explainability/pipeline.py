"""Explainability: SHAP values of the trained forecaster on the forecast horizon.

Only tables: the beeswarm is drawn by the reporting stage into the run's report folder
(a second, separately versioned copy here duplicated it under another path).
"""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.explainability.nodes import explain_forecast


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=explain_forecast,
                inputs=["forecaster", "model_input_table", "forecast_events", "model_selection",
                        "params:explainability", "forecast", "forecast_layout", "migrations"],
                outputs=["shap_values", "shap_importance", "forecast_drivers"],
                name="explain_forecast",
            ),
        ]
    )
