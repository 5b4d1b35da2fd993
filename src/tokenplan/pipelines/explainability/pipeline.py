"""Explainability: SHAP values of the trained forecaster on the forecast horizon."""

from kedro.pipeline import Node, Pipeline

from tokenplan.pipelines.explainability.nodes import explain_forecast, plot_shap_summary


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=explain_forecast,
                inputs=["forecaster", "model_input_table", "params:explainability"],
                outputs=["shap_values", "shap_importance"],
                name="explain_forecast",
            ),
            Node(
                func=plot_shap_summary,
                inputs=["shap_values", "params:explainability"],
                outputs="shap_summary_figure",
                name="plot_shap_summary",
            ),
        ]
    )
