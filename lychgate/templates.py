"""Plain variable substitution in API Gateway templates: ``$context.x``, ``$stageVariables.x``.

Gateway-response templates are not VTL in AWS either (spec gateway-behavior §2.1); MOCK and
integration response templates are VTL in AWS, and lychgate renders only their variables
(``config.openapi`` warns about templates with directives).
"""

from __future__ import annotations

import re
from typing import Callable

#: name -> value or None, for names like "context.requestId", "stageVariables.x",
#: "method.request.header.Accept".
Lookup = Callable[[str], "str | None"]

VARIABLE = re.compile(r"\$(?:\{(context|stageVariables)\.([A-Za-z0-9_.-]+)\}"
                      r"|(context|stageVariables)\.([A-Za-z0-9_.-]*[A-Za-z0-9_]))")


def substitute(text: str, lookup: Lookup) -> str:
    """Replace each variable by its value ('' when it has none)."""
    if "$" not in text:
        return text

    def value(match: re.Match) -> str:
        scope = match.group(1) or match.group(3)
        name = match.group(2) or match.group(4)
        found = lookup(f"{scope}.{name}")
        return "" if found is None else found

    return VARIABLE.sub(value, text)


def parameter_value(source: str, lookup: Lookup) -> str | None:
    """A mapping expression's value: ``'literal'``, or a name such as ``method.request.header.X``."""
    source = source.strip()
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    return lookup(source)
