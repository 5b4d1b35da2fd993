"""Project settings: hooks and the config loader.

Parameters merge softly across environments, so ``--params training.n_trials=5`` or a
``conf/test/parameters_training.yml`` overrides one key and keeps its siblings.
"""

import warnings

from tokenplan.config_resolvers import RESOLVERS
from tokenplan.hooks import (
    ClosingBlockHooks,
    DemoEventsHooks,
    MemoryTrimHooks,
    ParameterCheckHooks,
    ParameterSourceHooks,
    RunGuardHooks,
    RunRecordHooks,
    SimulatedDataHooks,
    SourceLabelHooks,
    SparkHooks,
    TimestampFormatHooks,
)

HOOKS = (ParameterCheckHooks(), ParameterSourceHooks(), SourceLabelHooks(), TimestampFormatHooks(), DemoEventsHooks(),
         SimulatedDataHooks(), RunRecordHooks(), RunGuardHooks(), ClosingBlockHooks(), SparkHooks(), MemoryTrimHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": RESOLVERS,  # ${log_format:PATH}: a request log's format from its name
}

# Kedro 1.7's OmegaConfigLoader registers its `globals` and `runtime_params` resolvers with
# OmegaConf.register_new_resolver, which OmegaConf 2.4 deprecates with a UserWarning on
# every config load (2-6 per command). Nothing in this project calls it; the filter goes
# when Kedro moves to register_resolver.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
