"""COGNITO_USER_POOLS (REST) and JWT (HTTP API) authorizers: the definition's scheme -> a
``lychgate.tokens.TokenAuthorizer``, and its result -> the gateway's answer (spec §6).

With a ``local_idp`` in ``lychgate.yaml`` the listed user pools and issuers are served by the
local identity provider instead: their tokens are minted by ``lychgate token`` and verified
against its keys, so Cognito-protected APIs run without an AWS account.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from lychgate.cors import is_preflight
from lychgate.errors import AccessDenied, GatewayError, Unauthorized
from lychgate.messages import Request
from lychgate.tokens import CognitoConfig, JwksRegistry, JwtConfig, TokenAuthorizer, TokenResult


@dataclass(frozen=True)
class LocalIssuer:
    """What the local identity provider stands in for."""

    issuer: str  # its own issuer URL
    user_pools: tuple[str, ...] = ()  # Cognito provider ARNs
    issuers: tuple[str, ...] = ()  # JWT authorizer issuers


@dataclass
class TokenAuthorizerSpec:
    """One token authorizer of an API, as the pipeline calls it (through its methods, so that
    only projects with token authorizers import this module and the JWT libraries)."""

    name: str
    header: str  # the identity source: a request header
    authorizer: TokenAuthorizer

    async def authenticate(self, request: Request, scopes: tuple[str, ...]) -> TokenResult:
        result = await self.authorizer.authorize(request.header(self.header), scopes or None)
        if result.code == "missing":
            # The verifier knows only the value; name the header that was looked at.
            why = f"no token in the {self.header} header (the identity source of authorizer {self.name})"
            if is_preflight(request):
                why += (f"; this request ({request.method} {request.raw_path}) is a CORS preflight, which browsers "
                        "send without credentials, so an authorizer on the OPTIONS method refuses every preflight: "
                        "give the OPTIONS method authorization NONE")
            result = replace(result, reason=why)
        return result

    @staticmethod
    def rejection(result: TokenResult) -> GatewayError:
        """The gateway error for a refused token: 401 (Unauthorized, or AWS's expiry text), 403 for scopes."""
        cause = f"token_{result.code}"
        # The gateway response adds Content-Type and x-amzn-ErrorType itself; keep the challenge only.
        headers = tuple((k, v) for k, v in result.headers if k.lower() == "www-authenticate")
        if result.status == 403:
            return AccessDenied("Forbidden", message_key="message", detail=result.reason, cause=cause, headers=headers)
        return Unauthorized(result.message or "Unauthorized", detail=result.reason, cause=cause, headers=headers)


def identity_header(scheme: Mapping, raw: Mapping) -> str:
    """The header carrying the token: ``identitySource`` (REST or HTTP API form), else the scheme's name."""
    source = str(raw.get("identitySource") or "").split(",")[0].strip()
    for prefix in ("method.request.header.", "$request.header."):
        if source.startswith(prefix):
            return source[len(prefix):]
    if source:
        raise ValueError(f"identitySource {source!r} is not a request header")
    return str(scheme.get("name") or "Authorization")


def build(name: str, scheme: Mapping, registry: JwksRegistry, local: LocalIssuer | None) -> TokenAuthorizerSpec:
    """A token authorizer from a security scheme; ValueError says what is wrong with it."""
    raw = scheme.get("x-amazon-apigateway-authorizer") or {}
    kind = str(raw.get("type", "")).lower()
    if kind == "cognito_user_pools":
        arns = tuple(raw.get("providerARNs") or ())
        if not arns:
            raise ValueError("a cognito_user_pools authorizer needs providerARNs")
        overrides = {arn: local.issuer for arn in arns if local and arn in local.user_pools}
        config = CognitoConfig(provider_arns=arns, issuer_overrides=overrides,
                               identity_validation_expression=raw.get("identityValidationExpression"))
    elif kind == "jwt":
        jwt = raw.get("jwtConfiguration") or {}
        if not jwt.get("issuer"):
            raise ValueError("a jwt authorizer needs jwtConfiguration.issuer")
        issuer = local.issuer if local and jwt["issuer"] in local.issuers else jwt["issuer"]
        config = JwtConfig(issuer=issuer, audience=tuple(jwt.get("audience") or ()))
    else:
        raise ValueError(f"authorizer type {kind!r} is not a token authorizer")
    return TokenAuthorizerSpec(name, identity_header(scheme, raw), TokenAuthorizer(config, registry))

