"""The integration contract: ``invoke(IntegrationRequest) -> Response``, one class per type.

Integrations raise ``GatewayError``s; library and backend exceptions are mapped to them here, in
one place (``backend_error``), keeping the original as the cause.
"""

from __future__ import annotations

import asyncio
import re
from typing import Mapping, Protocol

from lychgate.config.model import Integration, IntegrationResponse
from lychgate.errors import ApiConfigurationError, GatewayError, IntegrationFailure, IntegrationTimeout
from lychgate.functions.events import InvocationFacts
from lychgate.messages import Request, Response
from lychgate.templates import Lookup, parameter_value


class RequestSource(Protocol):
    """Where an integration request's derived views come from (the pipeline's request context)."""

    def lookup(self) -> Lookup: ...

    def facts(self) -> InvocationFacts: ...

    def method_arn(self) -> str: ...


class IntegrationRequest:
    """What an integration needs. The derived views (``lookup`` for mappings, ``facts`` for AWS
    events, ``method_arn``) are computed on first use only, so HTTP proxying never pays for them."""

    __slots__ = ("request", "stage", "stage_variables", "path_parameters", "timeout_s", "rest",
                 "_source", "_lookup", "_facts")

    def __init__(self, request: Request, stage: str, stage_variables: Mapping[str, str],
                 path_parameters: Mapping[str, str], timeout_s: float, rest: bool, source: RequestSource):
        self.request, self.stage, self.stage_variables = request, stage, stage_variables
        self.path_parameters, self.timeout_s, self.rest = path_parameters, timeout_s, rest
        self._source = source
        self._lookup: Lookup | None = None
        self._facts: InvocationFacts | None = None

    @property
    def lookup(self) -> Lookup:
        """Values of ``context.*``, ``stageVariables.*`` and ``method.request.*``."""
        if self._lookup is None:
            self._lookup = self._source.lookup()
        return self._lookup

    @property
    def facts(self) -> InvocationFacts:
        """The request and where it arrived, as AWS events describe it."""
        if self._facts is None:
            self._facts = self._source.facts()
        return self._facts

    @property
    def method_arn(self) -> str:
        return self._source.method_arn()


class IntegrationHandler(Protocol):
    config: Integration

    async def invoke(self, req: IntegrationRequest) -> Response: ...


def backend_error(exc: Exception, what: str) -> GatewayError:
    """A backend's failure (timeout or ``UpstreamError``) as AWS's gateway response."""
    if isinstance(exc, asyncio.TimeoutError):
        return IntegrationTimeout(detail=f"{what} did not answer within the integration timeout",
                                  cause="integration_timeout")
    return IntegrationFailure(detail=f"{what} failed: {exc}", cause="backend_failed")


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
