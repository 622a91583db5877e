"""``RequestContext``: the one mutable object the pipeline stages share for a request.

Each field says which stage sets it. Stages read what earlier stages wrote and call engines
with explicit arguments; engines never see this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lychgate.config.model import Stage, UsagePlan
from lychgate.errors import GatewayError
from lychgate.messages import Request, Response
from lychgate.routing import RouteMatch
from lychgate.trace import DecisionTrace

if TYPE_CHECKING:
    from lychgate.authorizers.iam import Caller
    from lychgate.iam import Evaluation
    from lychgate.usage.keys import Admission, ApiKey
    from lychgate.pipeline.chain import Plan
    from lychgate.pipeline.runtime import ApiRuntime, Gateway


@dataclass(slots=True)
class RequestContext:
    gateway: Gateway
    """The running gateway: APIs, functions, pools (set by the server)."""
    request: Request
    """The request as received (set by the server)."""
    request_id: str
    """``$context.requestId`` (set by the server)."""
    extended_request_id: str
    """``$context.extendedRequestId`` / ``x-amz-apigw-id`` (set by the server)."""
    started: float
    """``time.perf_counter()`` when the request was complete, for latencies."""
    api: ApiRuntime | None = None
    """The API addressed (set by ``resolve_api``)."""
    stage: Stage | None = None
    """The stage addressed (set by ``resolve_api``)."""
    path: str = "/"
    """The raw request path below the stage prefix (set by ``resolve_api``)."""
    stage_prefixed: bool = False
    """Whether the URL carried the stage as its first segment (set by ``resolve_api``)."""
    domain_name: str = ""
    """``$context.domainName``: the Host the client used, without port (set by ``resolve_api``)."""
    route: RouteMatch | None = None
    """The method/route and path parameters (set by ``match_route``)."""
    caller: Caller | None = None
    """The SigV4-authenticated caller, None when anonymous (set by ``authenticate``)."""
    authorizer: dict | None = None
    """``requestContext.authorizer`` from a token or Lambda authorizer (set by ``authenticate``)."""
    authorizer_principal: str | None = None
    """``$context.authorizer.principalId`` (set by ``authenticate``)."""
    usage_identifier_key: str | None = None
    """The API key a Lambda authorizer returned (``usageIdentifierKey``, set by ``authenticate``)."""
    api_key: ApiKey | None = None
    """The accepted API key (set by ``require_api_key``)."""
    api_key_value: str | None = None
    """Its value as presented, for ``requestContext.identity.apiKey`` (set by ``require_api_key``)."""
    usage_plan: UsagePlan | None = None
    """The usage plan of that key for this stage (set by ``require_api_key``)."""
    usage_admission: Admission | None = None
    """Both, with the limits made for them, which ``throttle`` looks up (set by ``require_api_key``)."""
    decision: Evaluation | None = None
    """The IAM decision for this call, when one was made (set by ``authorize``)."""
    response: Response | None = None
    """The response to send (set by ``integrate``, or by the chain on error)."""
    error: GatewayError | None = None
    """The gateway error that ended the request, if any (set by the chain)."""
    integration_status: int | None = None
    """Status the integration answered with (set by ``integrate``)."""
    integration_latency_ms: int | None = None
    """Time spent in the integration (set by ``integrate``)."""
    integration_error: str = ""
    """Why the integration failed (set by ``integrate``)."""
    response_latency_ms: int | None = None
    """Time from request to response (set by the chain)."""
    plan: Plan | None = None
    """The stages this request's route runs (set by the chain once the route is known)."""
    trace: DecisionTrace = field(default_factory=DecisionTrace)
    """What each stage decided (appended by every stage)."""
