"""MOCK integrations: the answer comes from the definition itself.

The status is the ``statusCode`` of the request template (200 without one), the integration
response is selected by that status, and its static templates and header mappings make the
response (the CORS ``OPTIONS`` method is the classic use).
"""

from __future__ import annotations

import re

from lychgate.config.model import Integration
from lychgate.integrations.base import IntegrationRequest, mapped_response_headers, select_response
from lychgate.messages import Response
from lychgate.templates import substitute

STATUS_IN_TEMPLATE = re.compile(r'"statusCode"\s*:\s*"?(\d{3})')


class MockIntegration:
    def __init__(self, config: Integration):
        self.config = config
        self.status = _template_status(config)

    async def invoke(self, req: IntegrationRequest) -> Response:
        if not self.config.responses:
            return Response(self.status, [("Content-Type", "application/json")], b"")
        chosen = select_response(self.config.responses, str(self.status))
        headers = mapped_response_headers(chosen.response_parameters, req.lookup)
        templates = chosen.response_templates
        content_type = next(iter(templates), "application/json")
        body = substitute(templates[content_type], req.lookup).encode() if templates else b""
        return Response(chosen.status_code, [("Content-Type", content_type), *headers], body)


def _template_status(config: Integration) -> int:
    templates = config.request_templates
    text = templates.get("application/json") or next(iter(templates.values()), "")
    match = STATUS_IN_TEMPLATE.search(text)
    return int(match.group(1)) if match else 200
