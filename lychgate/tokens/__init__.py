"""JWT verification for API Gateway's token authorizers (spec gateway-behavior §6).

``verify`` is pure: token + the issuer's ``KeySet`` + ``CognitoConfig`` (REST
``COGNITO_USER_POOLS``) or ``JwtConfig`` (HTTP API ``JWT``) + method scopes + now -> a
``TokenResult`` carrying either the claims or AWS's exact failure answer, and always a human
``reason``. ``jwks`` fetches and caches signing keys (``JwksSource``, ``JwksRegistry``) and offers
``TokenAuthorizer``, the async front door with a verified-token cache. ``idp`` is a local
identity provider that serves discovery + JWKS and mints Cognito-shaped tokens. This package
imports nothing else from lychgate.

Typical use::

    authorizer = TokenAuthorizer(CognitoConfig(provider_arns=(arn,)), JwksRegistry())
    result = await authorizer.authorize(request.header("Authorization"), method_scopes)
    if not result.allowed:
        answer(result.status, result.headers, result.body)   # or a gateway response
"""

from .jwks import (
    FETCH_TIMEOUT,
    MIN_REFRESH_INTERVAL,
    JwksRegistry,
    JwksSource,
    TokenAuthorizer,
    fetch_json,
)
from .verify import (
    CLOCK_SKEW,
    COGNITO_ALGORITHMS,
    JWT_ALGORITHMS,
    JWT_DESCRIPTIONS,
    CognitoConfig,
    JwtConfig,
    KeySet,
    ParsedToken,
    TokenRejected,
    TokenResult,
    VerifiedTokenCache,
    cognito_issuer,
    decode_unverified,
    extract_token,
    failure,
    http_claims,
    parse_token,
    rest_claims,
    token_scopes,
    verify_cognito,
    verify_jwt,
    verify_token,
)

__all__ = [
    "CLOCK_SKEW",
    "COGNITO_ALGORITHMS",
    "FETCH_TIMEOUT",
    "JWT_ALGORITHMS",
    "JWT_DESCRIPTIONS",
    "MIN_REFRESH_INTERVAL",
    "CognitoConfig",
    "JwksRegistry",
    "JwksSource",
    "JwtConfig",
    "KeySet",
    "ParsedToken",
    "TokenAuthorizer",
    "TokenRejected",
    "TokenResult",
    "VerifiedTokenCache",
    "cognito_issuer",
    "decode_unverified",
    "extract_token",
    "failure",
    "fetch_json",
    "http_claims",
    "parse_token",
    "rest_claims",
    "token_scopes",
    "verify_cognito",
    "verify_jwt",
    "verify_token",
]
