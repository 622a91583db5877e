"""``lychgate check``'s network finding: token authorizers whose issuer's signing keys cannot be fetched.

A COGNITO_USER_POOLS or JWT authorizer refuses every token (401) while it cannot get its issuer's
JWKS. Each authorizer is built exactly as the gateway builds it (``token.build``), so the keys are
looked for where the gateway will look: ``{issuer}/.well-known/jwks.json`` for user pools, the
discovery document's ``jwks_uri`` for JWT issuers; issuers the local identity provider stands in
for read its key file and are not fetched. Every issuer is fetched once, all in parallel, under a
short timeout and an overall deadline, so ``check`` stays fast and cannot hang.
"""

from __future__ import annotations

import threading
import time

from lychgate.authorizers import token
from lychgate.config.check import Where, finding
from lychgate.config.model import Api, Project
from lychgate.errors import Problem
from lychgate.tokens import JwksRegistry, JwksSource

#: Seconds one fetch may take in ``check`` (the gateway itself allows more: tokens.FETCH_TIMEOUT).
CHECK_TIMEOUT = 2.0
TOKEN_KINDS = ("cognito_user_pools", "jwt")


def unreachable_jwks(project: Project, timeout: float = CHECK_TIMEOUT) -> list[Problem]:
    """One finding per token authorizer and issuer whose JWKS cannot be fetched from here, now."""
    registry = JwksRegistry(_local_locations(project), timeout=timeout)
    local = _local_issuer(project)
    uses = []  # (api, scheme name, kind, issuer index, issuer, source)
    for api in project.apis:
        for name, scheme in api.authorizers.items():
            kind = str(scheme["x-amazon-apigateway-authorizer"].get("type", "")).lower()
            if kind not in TOKEN_KINDS:
                continue
            try:
                spec = token.build(name, scheme, registry, local)
            except ValueError:
                continue  # a broken definition is reported by `check` as a problem already
            for index, (issuer, source) in enumerate(spec.authorizer.sources.items()):
                if not source.is_file:
                    uses.append((api, name, kind, index, issuer, source))
    failures = _probe_all({id(use[5]): use[5] for use in uses}.values(), timeout)
    return [_finding(api, name, kind, index, issuer, failures[id(source)])
            for api, name, kind, index, issuer, source in uses if failures[id(source)] is not None]


def _local_locations(project: Project) -> dict[str, str]:
    """The local identity provider's issuer -> its key file (never fetched)."""
    idp = project.local_idp
    return {idp.issuer: str(idp.folder / "jwks.json")} if idp is not None else {}


def _local_issuer(project: Project) -> token.LocalIssuer | None:
    idp = project.local_idp
    return token.LocalIssuer(idp.issuer, idp.user_pools, idp.issuers) if idp is not None else None


def _probe_all(sources, timeout: float) -> dict[int, str | None]:
    """Source id -> why its keys cannot be fetched (None: fine). Daemon threads, joined against one
    deadline: a server that trickles bytes is given up on, and never keeps the process alive."""
    sources = list(sources)
    results: dict[int, str | None] = {}

    def probe(source: JwksSource) -> None:
        results[id(source)] = source.probe()

    threads = [threading.Thread(target=probe, args=(source,), name="jwks-probe", daemon=True) for source in sources]
    for thread in threads:
        thread.start()
    allowed = 2 * timeout + 0.5  # a JWT issuer costs two fetches: discovery, then the JWKS
    deadline = time.monotonic() + allowed
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {id(source): results[id(source)] if id(source) in results
            else f"{source.location} timed out: no usable answer within {allowed:g} s" for source in sources}


def _finding(api: Api, name: str, kind: str, index: int, issuer: str, why: str) -> Problem:
    raw = f"{api.schemes_pointer}/{name}/x-amazon-apigateway-authorizer"
    if kind == "jwt":
        where, field, local = f"{raw}/jwtConfiguration/issuer", "jwtConfiguration.issuer", "local_idp.issuers"
        how = f"(via {issuer.rstrip('/')}/.well-known/openid-configuration)"
    else:
        where, field, local = f"{raw}/providerARNs/{index}", "providerARNs", "local_idp.user_pools"
        how = f"({issuer}/.well-known/jwks.json)"
    return finding(Where(api.source.file, where),
                   f"{kind.upper()} authorizer {name} cannot get the signing keys of issuer {issuer} {how} "
                   f"from this machine now: {why}; while they cannot, every token is refused with 401",
                   f"check {field} and that this machine can reach the issuer; to work without it, list it under "
                   f"{local} so the local identity provider stands in for it; `lychgate check --offline` skips "
                   "this network check")
