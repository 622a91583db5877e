"""A local identity provider: signing keys, an OIDC discovery document and JWKS over HTTP, and
Cognito-shaped tokens, so Cognito and JWT authorizers can be exercised without AWS.

``LocalIdentityProvider(folder)`` loads its private keys (one RS256 and one ES256 signing key)
from ``folder/lychgate-idp-keys.json``, creating them on first use (file mode 0600, created
atomically so concurrent workers agree), so tokens stay valid across restarts as long as the
issuer URL stays the same (pass a fixed ``port``, or ``issuer``). ``await start()`` serves
``/.well-known/openid-configuration`` and ``/.well-known/jwks.json`` on 127.0.0.1 from an asyncio
server the caller stops with ``await stop()``. ``mint()`` returns ID or access tokens with the
claims Amazon Cognito puts in them (``cognito:username``, ``cognito:groups``, ``token_use``,
``aud`` or ``client_id`` + ``scope``, ``auth_time``, ``jti``...); ``rotate()`` replaces a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

KEY_FILE = "lychgate-idp-keys.json"
#: Algorithms the provider can sign with; RS256 is what Cognito uses.
ALGORITHMS = ("RS256", "ES256")
DEFAULT_CLIENT_ID = "lychgate-local-client"
_REQUEST_TIMEOUT = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}


def _generate(alg: str):
    """A new private signing key for ``alg`` whose kid is its RFC 7638 thumbprint."""
    params = {"alg": alg, "use": "sig"}
    key = RSAKey.generate_key(2048, parameters=params) if alg.startswith("RS") else \
        ECKey.generate_key("P-256", parameters=params)
    key.ensure_kid()
    return key


def _import(entry: Mapping[str, Any]):
    return (RSAKey if entry.get("kty") == "RSA" else ECKey).import_key(dict(entry))


class LocalIdentityProvider:
    """Keys, an HTTP endpoint for discovery + JWKS, and a token mint (see module doc)."""

    def __init__(self, folder: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 issuer: str | None = None, client_id: str = DEFAULT_CLIENT_ID):
        self.folder = Path(folder)
        self.host = host
        self.port = port
        self.client_id = client_id
        self._issuer = issuer.rstrip("/") if issuer else None
        self._keys: dict[str, Any] = {}
        self._signing: dict[str, str] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self.requests_served = 0
        self._load_or_create()

    # ------------------------------------------------------------------ keys

    @property
    def key_file(self) -> Path:
        return self.folder / KEY_FILE

    def _load_or_create(self) -> None:
        if not self.key_file.exists():
            self._create()
        self._load()

    def _load(self) -> None:
        data = orjson.loads(self.key_file.read_bytes())
        self._keys = {entry["kid"]: _import(entry) for entry in data["keys"]}
        self._signing = dict(data["signing"])

    def _create(self) -> None:
        """Generate keys and publish the file only if no other process did first."""
        self._keys, self._signing = {}, {}
        for alg in ALGORITHMS:
            key = _generate(alg)
            self._keys[key.kid], self._signing[alg] = key, key.kid
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self._write_temporary()
        try:
            os.link(temporary, self.key_file)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()

    def _write_temporary(self) -> Path:
        document = {"signing": self._signing,
                    "keys": [key.as_dict(private=True) for key in self._keys.values()]}
        temporary = self.folder / f".{KEY_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        return temporary

    def rotate(self, alg: str = "RS256", *, keep_previous: bool = False) -> str:
        """Sign ``alg`` tokens with a new key from now on; the old key leaves the JWKS unless
        ``keep_previous``. Persisted. Returns the new kid."""
        key = _generate(alg)
        old = self._signing.get(alg)
        if old is not None and not keep_previous:
            self._keys.pop(old, None)
        self._keys[key.kid], self._signing[alg] = key, key.kid
        os.replace(self._write_temporary(), self.key_file)
        return key.kid

    def signing_kid(self, alg: str = "RS256") -> str:
        return self._signing[alg]

    def private_key(self, alg: str = "RS256"):
        """The joserfc key that signs ``alg`` tokens (for tests that craft their own)."""
        return self._keys[self._signing[alg]]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document."""
        return {"keys": [key.as_dict(private=False) for key in self._keys.values()]}

    # ------------------------------------------------------------------ URLs and documents

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the provider has no port yet: start() it or pass port=")
        return f"http://{self.host}:{self.port}"

    @property
    def issuer(self) -> str:
        return self._issuer or self.base_url

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/.well-known/jwks.json"

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Metadata (only what a resource server reads, plus the basics)."""
        return {"issuer": self.issuer, "jwks_uri": self.jwks_url,
                "response_types_supported": ["code", "token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": list(ALGORITHMS)}

    # ------------------------------------------------------------------ tokens

    def mint(self, sub: str, username: str | None = None, groups: Sequence[str] = (),
             scopes: Sequence[str] = (), client_id: str | None = None, token_use: str = "id",
             ttl: float = 3600, extra_claims: Mapping[str, Any] | None = None, *,
             alg: str = "RS256", now: float | None = None) -> str:
        """A signed Cognito-shaped ``id`` or ``access`` token; ``extra_claims`` override any
        claim (``None`` values included). Access tokens carry ``scope`` when ``scopes`` given."""
        issued = int(time.time() if now is None else now)
        claims = self._cognito_claims(sub, username or sub, groups, client_id or self.client_id,
                                      token_use, issued, ttl)
        if token_use == "access" and scopes:
            claims["scope"] = " ".join(scopes)
        claims.update(extra_claims or {})
        kid = self._signing[alg]
        return jwt.encode({"kid": kid, "alg": alg}, claims, self._keys[kid],
                          algorithms=[alg], default_type=None)

    def _cognito_claims(self, sub: str, username: str, groups: Sequence[str], client_id: str,
                        token_use: str, issued: int, ttl: float) -> dict[str, Any]:
        """The claims Cognito puts in ID and access tokens, in Cognito's order."""
        claims: dict[str, Any] = {"sub": sub}
        if groups:
            claims["cognito:groups"] = list(groups)
        claims["iss"] = self.issuer
        if token_use == "access":
            claims["client_id"] = client_id
        else:
            claims.update({"cognito:username": username, "aud": client_id})
        claims.update({"origin_jti": str(uuid.uuid4()), "event_id": str(uuid.uuid4()),
                       "token_use": token_use, "auth_time": issued,
                       "exp": int(issued + ttl), "iat": issued, "jti": str(uuid.uuid4())})
        if token_use == "access":
            claims["username"] = username
        return claims

    # ------------------------------------------------------------------ HTTP

    async def start(self) -> str:
        """Serve discovery and JWKS on ``host:port`` (port 0: any free one); returns the issuer."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.issuer

    async def stop(self) -> None:
        """Stop listening and end open connections. The port stays as it was, for a restart."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def __aenter__(self) -> LocalIdentityProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve_one(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ValueError):
            pass
        finally:
            self._handlers.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_TIMEOUT)
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        status, document = self._route(method, urlsplit(target).path)
        body = orjson.dumps(document)
        writer.write((f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
                      f"content-length: {len(body)}\r\ncache-control: max-age=60\r\n"
                      f"connection: close\r\n\r\n").encode() + (b"" if method == "HEAD" else body))
        await writer.drain()

    def _route(self, method: str, path: str) -> tuple[int, Any]:
        if method not in ("GET", "HEAD"):
            return 405, {"message": "Method Not Allowed"}
        if path.endswith("/.well-known/jwks.json"):
            self.requests_served += 1
            return 200, self.jwks()
        if path.endswith("/.well-known/openid-configuration"):
            self.requests_served += 1
            return 200, self.discovery()
        return 404, {"message": "Not Found"}
