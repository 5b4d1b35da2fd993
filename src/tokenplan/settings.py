"""Project settings: hooks and the config loader.

Parameters merge softly across environments, so ``--params training.n_trials=5`` or a
``conf/test/parameters_training.yml`` overrides one key and keeps its siblings.
"""

from tokenplan.hooks import DemoEventsHooks, RunGuardHooks, SourceLabelHooks

HOOKS = (SourceLabelHooks(), DemoEventsHooks(), RunGuardHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}
