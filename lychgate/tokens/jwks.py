"""Signing keys for token authorizers, fetched, cached and refreshed; and the async front door.

A ``JwksSource`` holds one issuer's current ``KeySet``. Keys come from a JWKS URL (Cognito:
``{issuer}/.well-known/jwks.json``), from an OpenID discovery document's ``jwks_uri`` (HTTP API
JWT issuers: ``{issuer}/.well-known/openid-configuration``), or from a local JWKS file. Keys are
loaded on first use and refreshed only when a token names an unknown ``kid``; attempts (failed
or not) are at least ``min_refresh_interval`` apart and concurrent callers share one attempt, so
a flood of made-up kids costs at most one fetch per interval. A failed fetch keeps the cached
keys, so known kids keep verifying while the endpoint is down, and an unknown kid is refused.
HTTP(S) is fetched with urllib in a worker thread under a timeout (no proxy for loopback hosts).
``JwksRegistry`` shares sources between authorizers; ``TokenAuthorizer`` is what a pipeline
calls: identity value in, ``TokenResult`` out, with the verified-token cache in front.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from .verify import (
    CognitoConfig,
    JwtConfig,
    KeySet,
    ParsedToken,
    TokenResult,
    VerifiedTokenCache,
    decode_unverified,
    verify_token,
)

#: Default seconds between two fetch attempts of one source.
MIN_REFRESH_INTERVAL = 10.0
#: Default seconds one fetch may take.
FETCH_TIMEOUT = 5.0
#: Larger JWKS or discovery documents are refused.
MAX_DOCUMENT_BYTES = 1 << 20

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class JwksSource:
    """One issuer's signing keys: ``current`` is always usable (empty before the first load).

    ``location`` is a JWKS URL, an issuer URL when ``discovery`` is true, or a file path.
    ``fetches`` counts attempts; ``last_error`` says why the latest one failed (None if it
    succeeded).
    """

    def __init__(self, location: str | Path, *, discovery: bool = False,
                 min_refresh_interval: float = MIN_REFRESH_INTERVAL,
                 timeout: float = FETCH_TIMEOUT):
        self.location = str(location)
        self.discovery = discovery
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self.current = KeySet(source=self.location)
        self.fetches = 0
        self.last_error: str | None = None
        self._last_attempt: float | None = None
        self._jwks_uri: str | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_file(self) -> bool:
        return urlsplit(self.location).scheme not in ("http", "https")

    async def keys_for(self, kid: Any) -> KeySet:
        """The current keys, refreshed first if ``kid`` is not among them (rate-limited).
        A kid that is not a string cannot match any key and causes no fetch."""
        if not isinstance(kid, str) or kid in self.current.by_kid:
            return self.current
        await self.refresh()
        return self.current

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch again unless the last attempt is more recent than the interval (or one is in
        flight: then wait for it). True if this call fetched and the keys were replaced."""
        async with self._loop_lock():
            if not force and not self._due():
                return False
            self._last_attempt = time.monotonic()
            self.fetches += 1
            try:
                self.current = await asyncio.wait_for(self._load(), self.timeout + 1.0)
            except (OSError, ValueError, asyncio.TimeoutError) as error:
                self.last_error = _describe(error)
                return False
            self.last_error = None
            return True

    def _loop_lock(self) -> asyncio.Lock:
        """The single-flight lock, remade if the source moves to another event loop."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _due(self) -> bool:
        last = self._last_attempt
        return last is None or time.monotonic() - last >= self.min_refresh_interval

    async def _load(self) -> KeySet:
        if self.is_file:
            path = self.location.removeprefix("file://")
            data = await asyncio.to_thread(Path(path).read_bytes)
            return KeySet.from_jwks(data, source=path)
        url = await self._jwks_url()
        document = await asyncio.to_thread(fetch_json, url, self.timeout)
        return KeySet.from_jwks(document, source=url)

    async def _jwks_url(self) -> str:
        """The JWKS URL: the location itself, or ``jwks_uri`` of the issuer's discovery doc."""
        if not self.discovery:
            return self.location
        if self._jwks_uri is None:
            self._jwks_uri = await asyncio.to_thread(discover_jwks_uri, self.location, self.timeout)
        return self._jwks_uri

    def probe(self) -> str | None:
        """Blocking, for ``lychgate check``: why this issuer's keys cannot be fetched right now
        (None if its JWKS has at least one usable key). Local files are not probed (None).
        Changes nothing: the gateway's own loads keep their schedule."""
        if self.is_file:
            return None
        url = self.location
        try:
            if self.discovery:
                url = discover_jwks_uri(self.location, self.timeout)
            keys = KeySet.from_jwks(fetch_json(url, self.timeout), source=url)
        except (OSError, ValueError) as error:
            return _describe(error)
        if not len(keys):
            why = f": {'; '.join(keys.skipped)}" if keys.skipped else ""
            return f"{url} lists no usable signing key{why}"
        return None


def discover_jwks_uri(issuer: str, timeout: float = FETCH_TIMEOUT) -> str:
    """``jwks_uri`` of an OIDC issuer's discovery document (§6.2); OSError/ValueError. Blocking."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = fetch_json(url, timeout)
    jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("http", "https"):
        raise ValueError(f"{url} has no http(s) jwks_uri")
    return jwks_uri


def fetch_json(url: str, timeout: float = FETCH_TIMEOUT) -> Any:
    """GET ``url`` (http or https) and parse JSON; OSError/ValueError on any failure, each
    naming the URL. Blocking."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"refusing to fetch {url!r}: not http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "lychgate-jwks"})
    opener = _DIRECT if _is_loopback(url) else urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise OSError(f"HTTP {error.code} from {url}") from None
    except urllib.error.URLError as error:
        raise OSError(f"cannot reach {url}: {error.reason}") from None
    except TimeoutError:
        raise OSError(f"{url} timed out after {timeout:g} s") from None
    except http.client.HTTPException as error:  # e.g. a server that does not speak HTTP
        raise OSError(f"{url} did not answer HTTP: {type(error).__name__}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError(f"{url} did not answer JSON") from None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError):
        return f"cannot reach the endpoint: {error.reason}"
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


class JwksRegistry:
    """One ``JwksSource`` per issuer, shared by every authorizer of a gateway.

    ``locations`` overrides where an issuer's keys live (a JWKS URL or a local file), e.g. for
    an issuer that is reachable only under another name.
    """

    def __init__(self, locations: Mapping[str, str | Path] | None = None, *,
                 min_refresh_interval: float = MIN_REFRESH_INTERVAL, timeout: float = FETCH_TIMEOUT):
        self.locations = dict(locations or {})
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self._sources: dict[tuple[str, str], JwksSource] = {}

    def for_cognito(self, issuer: str) -> JwksSource:
        """Cognito publishes its keys at ``{issuer}/.well-known/jwks.json`` (§6.1)."""
        return self._source(issuer, "cognito", issuer.rstrip("/") + "/.well-known/jwks.json", False)

    def for_oidc(self, issuer: str) -> JwksSource:
        """HTTP API JWT issuers: keys from the discovery document's ``jwks_uri`` (§6.2)."""
        return self._source(issuer, "oidc", issuer, True)

    def for_config(self, config: CognitoConfig | JwtConfig) -> dict[str, JwksSource]:
        """Issuer -> source for every issuer an authorizer trusts."""
        pick = self.for_oidc if config.kind == "JWT" else self.for_cognito
        return {issuer: pick(issuer) for issuer in config.issuers}

    def _source(self, issuer: str, kind: str, default: str, discovery: bool) -> JwksSource:
        source = self._sources.get((issuer, kind))
        if source is None:
            override = self.locations.get(issuer)
            source = JwksSource(default if override is None else override,
                                discovery=discovery and override is None,
                                min_refresh_interval=self.min_refresh_interval, timeout=self.timeout)
            self._sources[(issuer, kind)] = source
        return source


class TokenAuthorizer:
    """One token authorizer (REST Cognito or HTTP API JWT) ready to answer requests.

    ``await authorize(identity_value, scopes)`` returns the ``TokenResult``; a token verified
    before is answered from the cache until its ``exp`` (while its kid is still published).
    """

    def __init__(self, config: CognitoConfig | JwtConfig, registry: JwksRegistry | None = None,
                 *, cache_size: int = 10_000):
        self.config = config
        self.registry = registry if registry is not None else JwksRegistry()
        self.sources = self.registry.for_config(config)
        self.cache = VerifiedTokenCache(cache_size)

    async def authorize(self, identity: str | None, scopes: Sequence[str] | None = None,
                        now: float | None = None) -> TokenResult:
        """Verify the identity-source value for a method/route with these scopes (§6)."""
        now = time.time() if now is None else now
        wanted = tuple(scopes) if scopes else None
        hit = self.cached(identity, wanted, now)
        if hit is not None:
            return hit
        result = await self._verify(identity, wanted, now)
        self.cache.put((identity, wanted), result)
        return result

    def cached(self, identity: str | None, scopes: Sequence[str] | None = None,
               now: float | None = None) -> TokenResult | None:
        """The remembered allow for this value and scopes if still valid: before ``exp`` and
        its kid still published. No I/O, so a pipeline may try it before awaiting."""
        key = (identity, tuple(scopes) if scopes else None)
        hit = self.cache.get(key, time.time() if now is None else now)
        if hit is None or hit.kid in self.sources[hit.issuer].current.by_kid:  # type: ignore[index]
            return hit
        self.cache.discard(key)
        return None

    async def _verify(self, identity: str | None, scopes: tuple[str, ...] | None,
                      now: float) -> TokenResult:
        parsed = decode_unverified(identity, self.config)
        if not isinstance(parsed, ParsedToken):
            return parsed
        source = self._source_for(parsed)
        if source is None:
            keys = KeySet(source="(no JWKS: untrusted issuer)")
        else:
            keys = await source.keys_for(parsed.kid)
        result = verify_token(parsed, keys, self.config, scopes, now)
        if result.code == "kid" and source is not None and source.last_error:
            result = _with_fetch_error(result, source)
        return result

    def _source_for(self, parsed: ParsedToken) -> JwksSource | None:
        """Cognito: the pool the (unverified) ``iss`` names; JWT: the configured issuer."""
        if self.config.kind == "JWT":
            return self.sources[self.config.issuers[0]]
        issuer = parsed.issuer
        return self.sources.get(issuer) if isinstance(issuer, str) else None


def _with_fetch_error(result: TokenResult, source: JwksSource) -> TokenResult:
    return replace(result, reason=f"{result.reason}; the last JWKS fetch failed: {source.last_error}")
