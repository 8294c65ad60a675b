"""The prompt registry: immutable versions, movable labels, sandboxed rendering, few-shot.

    import llmops
    llmops.get_prompt("travel-system@production").render(city="Lisbon")

    from llmops.prompts import open_prompts
    registry = open_prompts()                     # local store, or LLMOPS_SERVER_URL
    registry.create("travel-system", open("travel-system.yaml").read(), label="staging")
    registry.set_label("travel-system", "staging", "production")

docs/prompts.md documents the YAML format, labels and the rendering guarantees.
"""

from llmops.prompts.backend import PromptRegistry, open_prompts, parse_prompt_ref
from llmops.prompts.budget import RenderLimits
from llmops.prompts.client import clear_prompt_cache, default_ttl, get_prompt
from llmops.prompts.errors import (
    TemplateLimitExceeded,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxError,
    UndefinedVariable,
)
from llmops.prompts.fewshot import select_examples
from llmops.prompts.models import (
    CreatedPromptVersion,
    LabelChange,
    PromptDiff,
    PromptLabelEvent,
    PromptSummary,
    PromptVersion,
)
from llmops.prompts.prompt import Prompt, RenderedPrompt
from llmops.prompts.spec import PromptSpec, parse_spec
from llmops.prompts.template import CompiledTemplate, compile_template

__all__ = [
    "CompiledTemplate",
    "CreatedPromptVersion",
    "LabelChange",
    "Prompt",
    "PromptDiff",
    "PromptLabelEvent",
    "PromptRegistry",
    "PromptSpec",
    "PromptSummary",
    "PromptVersion",
    "RenderLimits",
    "RenderedPrompt",
    "TemplateLimitExceeded",
    "TemplateRenderError",
    "TemplateSecurityError",
    "TemplateSyntaxError",
    "UndefinedVariable",
    "clear_prompt_cache",
    "compile_template",
    "default_ttl",
    "get_prompt",
    "open_prompts",
    "parse_prompt_ref",
    "parse_spec",
    "select_examples",
]
