"""Every error lychgate can answer with, one class per API Gateway gateway-response type.

The tree (``x-amzn-ErrorType`` and default status in brackets)::

    GatewayError                              never raised directly
    ├── AccessDenied                          ACCESS_DENIED [AccessDeniedException 403]
    ├── ApiConfigurationError                 API_CONFIGURATION_ERROR [InternalServerErrorException 500]
    ├── AuthorizerConfigurationError          AUTHORIZER_CONFIGURATION_ERROR [AuthorizerConfigurationException 500]
    ├── AuthorizerFailure                     AUTHORIZER_FAILURE [AuthorizerFailureException 500]
    ├── BadRequestParameters                  BAD_REQUEST_PARAMETERS [BadRequestException 400]
    ├── BadRequestBody                        BAD_REQUEST_BODY [BadRequestException 400]
    ├── ExpiredToken                          EXPIRED_TOKEN [ExpiredTokenException 403]
    ├── IntegrationFailure                    INTEGRATION_FAILURE [InternalServerErrorException 500]
    │   └── MalformedIntegrationResponse      (same type; 502, AWS's "Malformed Lambda proxy response")
    ├── IntegrationTimeout                    INTEGRATION_TIMEOUT [InternalServerErrorException 504]
    ├── InvalidApiKey                         INVALID_API_KEY [ForbiddenException 403]
    ├── InvalidSignature                      INVALID_SIGNATURE [InvalidSignatureException 403]
    ├── MissingAuthenticationToken            MISSING_AUTHENTICATION_TOKEN [MissingAuthenticationTokenException 403]
    ├── QuotaExceeded                         QUOTA_EXCEEDED [LimitExceededException 429]
    ├── RequestTooLarge                       REQUEST_TOO_LARGE [RequestEntityTooLargeException 413]
    ├── ResourceNotFound                      RESOURCE_NOT_FOUND [NotFoundException 404]
    ├── Throttled                             THROTTLED [TooManyRequestsException 429]
    ├── Unauthorized                          UNAUTHORIZED [UnauthorizedException 401]
    ├── UnsupportedMediaType                  UNSUPPORTED_MEDIA_TYPE [BadRequestException 415]
    └── WafFiltered                           WAF_FILTERED [ForbiddenException 403]

Each class carries one fact per attribute (spec gateway-behavior §2.2); an instance may carry
a more specific message (signature errors, denials) and always may carry a ``detail``: our own
explanation, which goes to the decision trace and logs, never on the wire. HTTP APIs have no
gateway responses; ``http_api`` holds what they answer instead (spec §1.2, docs/aws-behaviour.md).

``ConfigError`` is separate: a project that cannot be loaded, with file and JSON pointer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

_DEFAULT = object()


class GatewayError(Exception):
    """A request that ends in a gateway response."""

    response_type: ClassVar[str]
    status: ClassVar[int]
    error_type: ClassVar[str]
    default_message: ClassVar[str | None]
    message_key: ClassVar[str] = "message"
    http_api: ClassVar[tuple[int, str]] = (500, "Internal Server Error")

    def __init__(self, message=_DEFAULT, *, detail: str = "", cause: str = "", error_type: str | None = None,
                 message_key: str | None = None, headers: tuple[tuple[str, str], ...] = ()):
        self.message = self.default_message if message is _DEFAULT else message
        self.detail = detail
        self.cause = cause or self.response_type.lower()
        self.headers = headers
        if error_type is not None:
            self.error_type = error_type
        if message_key is not None:
            self.message_key = message_key
        super().__init__(detail or self.message)


class AccessDenied(GatewayError):
    response_type, status, error_type = "ACCESS_DENIED", 403, "AccessDeniedException"
    default_message = "User is not authorized to access this resource"
    message_key = "Message"  # policy denials use a capital M on the wire (spec §2.4)
    http_api = (403, "Forbidden")


class ApiConfigurationError(GatewayError):
    response_type, status, error_type = "API_CONFIGURATION_ERROR", 500, "InternalServerErrorException"
    default_message = "Internal server error"


class AuthorizerConfigurationError(GatewayError):
    response_type, status, error_type = ("AUTHORIZER_CONFIGURATION_ERROR", 500,
                                         "AuthorizerConfigurationException")
    default_message = None  # AWS answers {"message":null} (spec §2.2)


class AuthorizerFailure(GatewayError):
    response_type, status, error_type = "AUTHORIZER_FAILURE", 500, "AuthorizerFailureException"
    default_message = "Internal server error"


class BadRequestParameters(GatewayError):
    response_type, status, error_type = "BAD_REQUEST_PARAMETERS", 400, "BadRequestException"
    default_message = "Missing required request parameters"
    http_api = (400, "Bad Request")


class BadRequestBody(GatewayError):
    response_type, status, error_type = "BAD_REQUEST_BODY", 400, "BadRequestException"
    default_message = "Invalid request body"
    http_api = (400, "Bad Request")


class ExpiredToken(GatewayError):
    response_type, status, error_type = "EXPIRED_TOKEN", 403, "ExpiredTokenException"
    default_message = "The security token included in the request is expired"
    http_api = (403, "Forbidden")


class IntegrationFailure(GatewayError):
    # Documented 504, observed 500 unless customised (spec §2.2, checklist 8).
    response_type, status, error_type = "INTEGRATION_FAILURE", 500, "InternalServerErrorException"
    default_message = "Internal server error"


class MalformedIntegrationResponse(IntegrationFailure):
    """A Lambda proxy response API Gateway cannot parse: 502 (spec §9.3)."""

    status = 502


class IntegrationTimeout(GatewayError):
    response_type, status, error_type = "INTEGRATION_TIMEOUT", 504, "InternalServerErrorException"
    default_message = "Endpoint request timed out"
    http_api = (503, "Service Unavailable")


class InvalidApiKey(GatewayError):
    response_type, status, error_type = "INVALID_API_KEY", 403, "ForbiddenException"
    default_message = "Forbidden"
    http_api = (403, "Forbidden")


class InvalidSignature(GatewayError):
    response_type, status, error_type = "INVALID_SIGNATURE", 403, "InvalidSignatureException"
    default_message = "The request signature we calculated does not match the signature you provided."
    http_api = (403, "Forbidden")


class MissingAuthenticationToken(GatewayError):
    response_type, status, error_type = ("MISSING_AUTHENTICATION_TOKEN", 403,
                                         "MissingAuthenticationTokenException")
    default_message = "Missing Authentication Token"
    http_api = (404, "Not Found")


class QuotaExceeded(GatewayError):
    response_type, status, error_type = "QUOTA_EXCEEDED", 429, "LimitExceededException"
    default_message = "Limit Exceeded"
    http_api = (429, "Too Many Requests")


class RequestTooLarge(GatewayError):
    response_type, status, error_type = "REQUEST_TOO_LARGE", 413, "RequestEntityTooLargeException"
    default_message = "HTTP content length exceeded 10485760 bytes."
    http_api = (413, "Request Entity Too Large")


class ResourceNotFound(GatewayError):
    response_type, status, error_type = "RESOURCE_NOT_FOUND", 404, "NotFoundException"
    default_message = "Not Found"
    http_api = (404, "Not Found")


class Throttled(GatewayError):
    response_type, status, error_type = "THROTTLED", 429, "TooManyRequestsException"
    default_message = "Too Many Requests"
    http_api = (429, "Too Many Requests")


class Unauthorized(GatewayError):
    response_type, status, error_type = "UNAUTHORIZED", 401, "UnauthorizedException"
    default_message = "Unauthorized"
    http_api = (401, "Unauthorized")


class UnsupportedMediaType(GatewayError):
    response_type, status, error_type = "UNSUPPORTED_MEDIA_TYPE", 415, "BadRequestException"
    default_message = "Unsupported Media Type"
    http_api = (415, "Unsupported Media Type")


class WafFiltered(GatewayError):
    response_type, status, error_type = "WAF_FILTERED", 403, "ForbiddenException"
    default_message = "Forbidden"
    http_api = (403, "Forbidden")


#: Every gateway-response type AWS knows, in the API model's enum order (spec §2.2).
RESPONSE_TYPES = (
    "DEFAULT_4XX", "DEFAULT_5XX", "RESOURCE_NOT_FOUND", "UNAUTHORIZED", "INVALID_API_KEY",
    "ACCESS_DENIED", "AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR", "INVALID_SIGNATURE",
    "EXPIRED_TOKEN", "MISSING_AUTHENTICATION_TOKEN", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
    "API_CONFIGURATION_ERROR", "UNSUPPORTED_MEDIA_TYPE", "BAD_REQUEST_PARAMETERS",
    "BAD_REQUEST_BODY", "REQUEST_TOO_LARGE", "THROTTLED", "QUOTA_EXCEEDED", "WAF_FILTERED",
)

#: response type -> the class that raises it (DEFAULT_* have none).
ERROR_CLASSES: dict[str, type[GatewayError]] = {
    cls.response_type: cls
    for cls in GatewayError.__subclasses__()
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a project: where (file + JSON pointer), what was expected, what was found."""

    file: str
    pointer: str
    message: str
    severity: str = "error"  # "error" stops loading; "warning" is reported and loading goes on

    def __str__(self) -> str:
        where = f"{self.file}#{self.pointer}" if self.pointer else self.file
        return f"{where}: {self.severity}: {self.message}"


class ConfigError(Exception):
    """A project that cannot be served; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
