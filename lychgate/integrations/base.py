"""The integration contract: ``invoke(IntegrationRequest) -> Response``, one class per type.

Integrations raise ``GatewayError``s; library and backend exceptions are mapped to them here, in
one place (``backend_errors``), keeping the original as the cause.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Protocol

from lychgate.config.model import Integration, IntegrationResponse
from lychgate.errors import ApiConfigurationError, IntegrationFailure, IntegrationTimeout
from lychgate.functions.events import InvocationFacts
from lychgate.messages import Request, Response
from lychgate.templates import Lookup, parameter_value
from lychgate.upstream import UpstreamError


class IntegrationRequest:
    """What an integration needs; the full ``facts`` (for AWS events) are built on first use only,
    so HTTP proxying never pays for them."""

    __slots__ = ("request", "stage", "stage_variables", "path_parameters", "lookup", "timeout_s", "rest",
                 "method_arn", "_facts", "_make_facts")

    def __init__(self, *, request: Request, stage: str, stage_variables: Mapping[str, str],
                 path_parameters: Mapping[str, str], lookup: Lookup, timeout_s: float, rest: bool = True,
                 make_facts: Callable[[], InvocationFacts], method_arn: str = ""):
        self.request, self.stage, self.stage_variables = request, stage, stage_variables
        self.method_arn = method_arn
        self.path_parameters, self.lookup, self.timeout_s, self.rest = path_parameters, lookup, timeout_s, rest
        self._facts: InvocationFacts | None = None
        self._make_facts = make_facts

    @property
    def facts(self) -> InvocationFacts:
        """The request and where it arrived, as AWS events describe it."""
        if self._facts is None:
            self._facts = self._make_facts()
        return self._facts


class IntegrationHandler(Protocol):
    config: Integration

    async def invoke(self, req: IntegrationRequest) -> Response: ...


@contextmanager
def backend_errors(what: str) -> Iterator[None]:
    """Map a backend's failures to AWS's gateway responses."""
    try:
        yield
    except asyncio.TimeoutError:
        raise IntegrationTimeout(detail=f"{what} did not answer within the integration timeout",
                                 cause="integration_timeout") from None
    except UpstreamError as exc:
        raise IntegrationFailure(detail=f"{what} failed: {exc}", cause="backend_failed") from exc


def select_response(responses: tuple[IntegrationResponse, ...], selector: str) -> IntegrationResponse:
    """The integration response whose selection pattern matches ``selector`` in full, else ``default``."""
    for candidate in responses:
        if candidate.pattern == "default" or re.fullmatch(candidate.pattern, selector, re.DOTALL):
            return candidate
    raise ApiConfigurationError(detail=f"no integration response matches {selector!r} and none is the default",
                                cause="no_integration_response")


def mapped_response_headers(parameters: Mapping[str, str], lookup: Lookup) -> list[tuple[str, str]]:
    """``method.response.header.X`` mappings of an integration response."""
    out = []
    for target, source in parameters.items():
        if target.startswith("method.response.header."):
            value = parameter_value(source, lookup)
            if value is not None:
                out.append((target[len("method.response.header."):], value))
    return out
