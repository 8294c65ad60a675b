"""Errors of the prompt registry and its template sandbox.

They extend the shared hierarchy in `llmops.errors`, so the edges map them like any
other: the CLI prints the message and exits 1, HTTP answers a problem+json whose `type`
ends with the class's slug (`template-security-error`, ...), which the remote client
turns back into the same class.

    InvalidInput (400)
    ├── TemplateSyntaxError       a template does not parse (names line and column)
    ├── TemplateSecurityError     a template reaches for something the sandbox forbids
    ├── TemplateLimitExceeded     a render went over its output, work or time budget
    └── TemplateRenderError       a template failed at render time (names the line)
    ValidationFailed (422)
    └── UndefinedVariable         a variable the template needs was not given
"""

from __future__ import annotations

from llmops.errors import InvalidInput, LlmopsError, ValidationFailed


class TemplateSyntaxError(InvalidInput):
    title = "Template syntax error"


class TemplateSecurityError(InvalidInput):
    title = "Template security violation"


class TemplateLimitExceeded(InvalidInput):
    title = "Template limit exceeded"


class TemplateRenderError(InvalidInput):
    title = "Template render error"


class UndefinedVariable(ValidationFailed):
    title = "Undefined variable"


PROMPT_ERRORS: tuple[type[LlmopsError], ...] = (
    TemplateSyntaxError, TemplateSecurityError, TemplateLimitExceeded, TemplateRenderError,
    UndefinedVariable,
)
