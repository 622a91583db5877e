"""CORS, as API Gateway does it (spec gateway-behavior §8).

HTTP APIs with ``corsConfiguration`` (``x-amazon-apigateway-cors``): the gateway answers preflight
requests no route claims, adds the configured headers to every response (integration responses
and gateway errors) and drops CORS headers the integration returned. REST APIs have no CORS
setting: an ``OPTIONS`` method (usually MOCK) answers preflights and every other response must
carry its own headers; gateway error responses carry none unless they are customised — the
classic pitfall, which lychgate reproduces unless the API sets ``cors_on_errors: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lychgate.messages import Request, Response

DEFAULT_REST_HEADERS = "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token"


@dataclass(frozen=True, slots=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def parse(cls, raw: dict) -> CorsConfig:
        """From ``x-amazon-apigateway-cors`` / ``corsConfiguration``; ValueError if malformed."""
        def names(key: str) -> tuple[str, ...]:
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings")
            return tuple(value)
        max_age = raw.get("maxAge")
        if max_age is not None and (not isinstance(max_age, int) or not -1 <= max_age <= 86400):
            raise ValueError("maxAge must be an integer from -1 to 86400")
        return cls(names("allowOrigins"), names("allowMethods"), names("allowHeaders"), names("exposeHeaders"),
                   max_age, bool(raw.get("allowCredentials", False)))

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return origin if origin in self.allow_origins else None


def is_preflight(request: Request) -> bool:
    return (request.method == "OPTIONS" and request.header("origin") is not None
            and request.header("access-control-request-method") is not None)


def preflight_response(config: CorsConfig, request: Request) -> Response:
    """The gateway's own answer to a preflight (204, no body)."""
    response = Response(204, [], b"")
    apply(config, request, response, preflight=True)
    return response


def apply(config: CorsConfig, request: Request, response: Response, preflight: bool = False) -> None:
    """Replace any CORS headers of the response with the configured ones for this origin."""
    response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
    origin = config.allowed_origin(request.header("origin"))
    if origin is None:
        return
    headers = [("access-control-allow-origin", origin)]
    if config.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    if preflight:
        if config.allow_methods:
            headers.append(("access-control-allow-methods", ",".join(config.allow_methods)))
        if config.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(config.allow_headers)))
        if config.max_age is not None:
            headers.append(("access-control-max-age", str(config.max_age)))
    elif config.expose_headers:
        headers.append(("access-control-expose-headers", ",".join(config.expose_headers)))
    response.headers += headers


def add_to_error(request: Request, response: Response) -> None:
    """``cors_on_errors``: what a DEFAULT_4XX/5XX customisation with CORS headers would add."""
    if response.header("Access-Control-Allow-Origin") is None:
        response.headers += [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", DEFAULT_REST_HEADERS)]
