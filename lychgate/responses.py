"""Gateway responses: choosing and rendering the answer for a ``GatewayError``.

REST APIs (spec gateway-behavior §2, §3): the API's customisation of that response type if any,
else its DEFAULT_4XX / DEFAULT_5XX customisation, else the built-in default
``{"message":$context.error.messageString}``. A customisation may change the status, add headers
(``gatewayresponse.header.X`` from a literal, a request parameter or a stage variable) and replace
the body template, which supports plain ``$context.*`` / ``$stageVariables.*`` substitution (not
VTL, as in AWS). ``x-amzn-ErrorType`` always names the error, even when customised.
HTTP APIs have no gateway responses: they answer ``{"message":"<reason>"}`` (errors.http_api).
"""

from __future__ import annotations

import json
from typing import Mapping

from lychgate.config.model import REST, Api, GatewayResponseTemplate
from lychgate.errors import GatewayError
from lychgate.messages import Response
from lychgate.templates import Lookup, parameter_value, substitute


def message_string(message: str | None) -> str:
    """``$context.error.messageString``: the message as a JSON value, quoted (null stays null)."""
    return json.dumps(message)


def default_body(error: GatewayError) -> bytes:
    return b'{"%s":%s}' % (error.message_key.encode(), message_string(error.message).encode())


def choose_template(error: GatewayError, api: Api) -> GatewayResponseTemplate | None:
    """The customisation that applies: the type's own, else DEFAULT_4XX/5XX (spec §2.1)."""
    responses = api.gateway_responses
    if not responses:
        return None
    own = responses.get(error.response_type)
    if own is not None:
        return own
    return responses.get("DEFAULT_5XX" if error.status >= 500 else "DEFAULT_4XX")


def render(error: GatewayError, api: Api | None, lookup: Lookup) -> Response:
    """The HTTP response for a gateway error on this API (None: no API was resolved, REST rules)."""
    if api is not None and api.protocol != REST:
        return _render_http_api(error)
    template = choose_template(error, api) if api is not None else None
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)]
    headers += error.headers
    if template is None:
        return Response(error.status, headers, default_body(error))
    headers += _mapped_headers(template.response_parameters, lookup)
    body = _body(template, error, lookup)
    return Response(template.status_code or error.status, headers, body)


def _render_http_api(error: GatewayError) -> Response:
    status, reason = error.http_api
    body = b'{"message":%s}' % json.dumps(reason).encode()
    return Response(status, [("Content-Type", "application/json"), *error.headers], body)


def _mapped_headers(parameters: Mapping[str, str], lookup: Lookup) -> list[tuple[str, str]]:
    out = []
    for target, source in parameters.items():
        if not target.startswith("gatewayresponse.header."):
            continue  # path/querystring targets are listed by AWS but have no effect on a response
        value = parameter_value(source, lookup)
        if value is not None:
            out.append((target[len("gatewayresponse.header."):], value))
    return out


def _body(template: GatewayResponseTemplate, error: GatewayError, lookup: Lookup) -> bytes:
    templates = template.response_templates
    text = templates.get("application/json") if templates else None
    if text is None and templates:
        text = next(iter(templates.values()))
    if text is None:
        return default_body(error)
    return substitute(text, _with_error(error, lookup)).encode()


def _with_error(error: GatewayError, lookup: Lookup) -> Lookup:
    def find(name: str) -> str | None:
        if name.startswith("context.error."):
            return _error_variable(name[len("context."):], error)
        return lookup(name)
    return find


def _error_variable(name: str, error: GatewayError) -> str:
    if name == "error.messageString":
        return message_string(error.message)
    if name == "error.message":
        return error.message or ""
    if name == "error.responseType":
        return error.response_type
    return ""
