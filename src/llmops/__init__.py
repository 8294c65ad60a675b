"""llmops: the LLMOps platform, as a Python library.

    import llmops
    with llmops.start_run(experiment="demo", name="r1") as run:
        run.log_params({"lr": 1e-4})
        run.log_metric("loss", 0.5, step=1)
        run.log_artifact("out/")

Names are imported on first use, so `import llmops` and `llmops --help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "start_run": "llmops.tracking",
    "open_tracking": "llmops.tracking",
    "ActiveRun": "llmops.tracking",
    "Run": "llmops.tracking",
    "RunStatus": "llmops.tracking",
    "MetricPoint": "llmops.tracking",
    "Settings": "llmops.config",
    "get_settings": "llmops.config",
    "Workspace": "llmops.workspace",
    "parse_ref": "llmops.refs",
    "Ref": "llmops.refs",
    "LlmopsError": "llmops.errors",
    "get_prompt": "llmops.prompts",
    "Prompt": "llmops.prompts",
    "RenderedPrompt": "llmops.prompts",
    "train": "llmops.training",
    "tune": "llmops.tuning",
    "evaluate": "llmops.evaluation",
    "trace": "llmops.traces.sdk",
    "span": "llmops.traces.sdk",
    "traceparent": "llmops.traces.sdk",
}

__all__ = [
    "ActiveRun",
    "LlmopsError",
    "MetricPoint",
    "Prompt",
    "Ref",
    "RenderedPrompt",
    "Run",
    "RunStatus",
    "Settings",
    "Workspace",
    "__version__",
    "evaluate",
    "get_prompt",
    "get_settings",
    "open_tracking",
    "parse_ref",
    "span",
    "start_run",
    "trace",
    "traceparent",
    "train",
    "tune",
]

if TYPE_CHECKING:
    from llmops.config import Settings, get_settings
    from llmops.errors import LlmopsError
    from llmops.evaluation import evaluate
    from llmops.prompts import Prompt, RenderedPrompt, get_prompt
    from llmops.refs import Ref, parse_ref
    from llmops.traces.sdk import span, trace, traceparent
    from llmops.tracking import ActiveRun, MetricPoint, Run, RunStatus, open_tracking, start_run
    from llmops.training import train
    from llmops.tuning import tune
    from llmops.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
