"""AWS_PROXY and AWS integrations: invoke a Lambda-style function with AWS's event.

AWS_PROXY sends the proxy event of the integration's payload format and parses the result by
that format's rules (spec gateway-behavior §9). A function error, a function timeout or a
malformed result is a 502 on REST APIs (``Internal server error``) and a 500 on HTTP APIs; the
integration timeout is a 504 (REST) / 503 (HTTP API). AWS (non-proxy) passes the JSON body as the
event and returns the JSON result, selecting the integration response by the error message.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from lychgate.config.model import Integration
from lychgate.errors import ApiConfigurationError, IntegrationTimeout, MalformedIntegrationResponse
from lychgate.functions.events import (MalformedResponse, parse_response_v1, parse_response_v2,
                                       proxy_event_v1, proxy_event_v2)
from lychgate.functions.invoke import FunctionError, FunctionTimeout, LocalFunction
from lychgate.integrations.base import IntegrationRequest, mapped_response_headers, select_response
from lychgate.messages import Response

LOG = logging.getLogger(__name__)


class FunctionIntegration:
    def __init__(self, config: Integration, function: LocalFunction):
        self.config = config
        self.function = function
        self.proxy = config.type == "AWS_PROXY"

    async def invoke(self, req: IntegrationRequest) -> Response:
        if not self.function.spec.permits(req.method_arn):
            # No AWS::Lambda::Permission lets API Gateway invoke it: AWS answers 500 (spec §9.3).
            raise ApiConfigurationError(detail=f"no Lambda permission lets API Gateway invoke function "
                                               f"{self.function.spec.name!r} from {req.method_arn}",
                                        cause="lambda_permission_missing")
        event = self._event(req)
        try:
            result = await self.function.invoke(event, request_id=req.facts.request_id, timeout_s=req.timeout_s)
        except asyncio.TimeoutError:
            raise IntegrationTimeout(detail=f"function {self.function.spec.name!r} ran past the "
                                            f"{req.timeout_s:g} s integration timeout", cause="integration_timeout") from None
        except (FunctionError, FunctionTimeout) as exc:
            if not self.proxy:
                return self._error_response(str(exc), req)
            LOG.error("%s Lambda execution failed due to customer function error: %s",
                      req.facts.request_id, exc, exc_info=exc.__cause__)
            raise MalformedIntegrationResponse(
                detail=f"function {self.function.spec.name!r} failed: {exc}", cause="function_error") from exc
        return self._response(result, req)

    def _event(self, req: IntegrationRequest):
        if not self.proxy:
            body = req.facts.request.body
            try:
                return orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                return body.decode("utf-8", "replace")
        if self.config.payload_format_version == "2.0":
            return proxy_event_v2(req.facts)
        return proxy_event_v1(req.facts, version=None if req.rest else "1.0")

    def _response(self, result, req: IntegrationRequest) -> Response:
        if not self.proxy:
            chosen = select_response(self.config.responses, "")
            headers = [("Content-Type", "application/json"),
                       *mapped_response_headers(chosen.response_parameters, req.lookup)]
            return Response(chosen.status_code, headers, orjson.dumps(result))
        try:
            if self.config.payload_format_version == "2.0":
                return parse_response_v2(result)
            return parse_response_v1(result, decode_base64=not req.rest or req.facts.binary)
        except (MalformedResponse, TypeError) as exc:
            LOG.error("%s Execution failed due to configuration error: Malformed Lambda proxy response: %s",
                      req.facts.request_id, exc)
            raise MalformedIntegrationResponse(detail=f"Malformed Lambda proxy response: {exc}",
                                               cause="malformed_function_response") from exc

    def _error_response(self, message: str, req: IntegrationRequest) -> Response:
        chosen = select_response(self.config.responses, message)
        body = orjson.dumps({"errorMessage": message})
        return Response(chosen.status_code, [("Content-Type", "application/json")], body)
