"""The request path: the stages in order. Read these lists to know what a request goes through."""

from __future__ import annotations

from lychgate.pipeline.chain import Pipeline
from lychgate.pipeline.stages.auth import authenticate, authorize
from lychgate.pipeline.stages.integrate import integrate
from lychgate.pipeline.stages.log import remember_trace, write_access_log, write_execution_log
from lychgate.pipeline.stages.respond import add_cors_headers, add_explain_header, add_standard_headers
from lychgate.pipeline.stages.route import match_route, resolve_api
from lychgate.pipeline.stages.usage import require_api_key, throttle

LOCATE_STAGES = (resolve_api, match_route)  # what the request addresses: API, stage, route
REQUEST_STAGES = (authenticate, authorize, require_api_key, throttle, integrate)  # per route, as needed
RESPONSE_STAGES = (add_cors_headers, add_standard_headers, add_explain_header)
FINALIZERS = (write_access_log, write_execution_log, remember_trace)


def build_pipeline(until: str | None = None) -> Pipeline:
    """The server's pipeline; ``until="authorize"`` stops after that stage (``simulate``, ``explain``)."""
    if until is None:
        return Pipeline(LOCATE_STAGES, REQUEST_STAGES, RESPONSE_STAGES, FINALIZERS)
    names = [stage.__name__ for stage in REQUEST_STAGES]
    return Pipeline(LOCATE_STAGES, REQUEST_STAGES[:names.index(until) + 1], RESPONSE_STAGES, (), dry_run=True)
