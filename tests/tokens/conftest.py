"""Shared keys and token-crafting helpers for the lychgate.tokens tests.

One ``LocalIdentityProvider`` (real RSA and EC keys) is created per session and never rotated;
tests that rotate keys or run servers make their own in ``tmp_path``.
"""

import base64
import hashlib
import hmac
import json

import pytest

from lychgate.tokens import CognitoConfig, JwtConfig, KeySet
from lychgate.tokens.idp import LocalIdentityProvider

POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_TestPool"
POOL_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
JWKS_URL = POOL_ISSUER + "/.well-known/jwks.json"
CLIENT = "client-abc"
NOW = 1_790_000_000.0


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    return LocalIdentityProvider(tmp_path_factory.mktemp("idp"), issuer=POOL_ISSUER, client_id=CLIENT)


@pytest.fixture(scope="session")
def keys(idp):
    return KeySet.from_jwks(idp.jwks(), source=JWKS_URL)


@pytest.fixture
def cognito():
    return CognitoConfig(provider_arns=(POOL_ARN,))


@pytest.fixture
def jwt_config():
    return JwtConfig(issuer=POOL_ISSUER, audience=(CLIENT,))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="session")
def craft():
    """craft(header, claims, signature=b"", hmac_key=None) -> a compact token, unsigned or HMACed."""

    def make(header, claims, signature=b"", hmac_key=None):
        signing_input = f"{segment(header)}.{segment(claims)}"
        if hmac_key is not None:
            signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"

    return make
