"""``lychgate simulate``: run the gateway's own pipeline on one request, offline, up to the integration.

The request is built exactly as a client would send it (PATH is the path on the wire, with the
stage for path-style URLs); ``--as NAME`` signs it with SigV4 as that user or role session using
its first access key. Same stages, same engines as the server, so the answer cannot drift.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from lychgate.config.identities import AccessKey
from lychgate.config.model import Project
from lychgate.messages import Request
from lychgate.pipeline import build_pipeline
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.explain import explanation
from lychgate.pipeline.runtime import Gateway
from lychgate.sigv4 import sign_headers


class SimulateError(ValueError):
    """The simulated request cannot be built (unknown identity, bad header...)."""


def key_for(project: Project, name: str | None, access_key: str | None) -> AccessKey | None:
    """The access key to sign with: by id, or the first key of a user / role (by name or ARN)."""
    store = project.identities
    keys = store.keys if store else {}
    if access_key:
        if access_key not in keys:
            raise SimulateError(f"access key {access_key} is not declared in {project.file.name}")
        return keys[access_key]
    if name is None:
        return None
    for key in keys.values():
        identity = key.identity
        names = {identity.arn, identity.principal_arn, identity.username, identity.principal_arn.rsplit("/", 1)[-1]}
        if name in names:
            return key
    raise SimulateError(f"no access key of a user or role named {name!r} in {project.file.name}")


def build_request(method: str, target: str, headers: list[str], body: bytes, source_ip: str, host: str) -> Request:
    path, _, query = target.partition("?")
    pairs = [("Host", host)]
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise SimulateError(f"--header expects NAME:VALUE, found {header!r}")
        pairs.append((name.strip(), value.strip()))
    return Request(method.upper(), path or "/", query, pairs, body, source_ip, "1.1", time.time())


async def _run(gateway: Gateway, ctx: RequestContext) -> None:
    await gateway.load_keys()
    # Up to the API-key check: throttles and quotas would spend real tokens of a shared store.
    await build_pipeline(until="require_api_key").run(ctx)
    await gateway.store.close()


def simulate(project: Project, request: Request, key: AccessKey | None) -> dict:
    if key is not None:
        creds = key.credentials
        request.headers = sign_headers(request.method, request.raw_path, request.raw_query, request.headers,
                                       request.body, access_key_id=creds.access_key_id,
                                       secret_access_key=creds.secret_access_key,
                                       session_token=creds.session_token, region=project.region)
    gateway = Gateway(project, access_log=False)
    try:
        ctx = RequestContext(gateway=gateway, request=request, request_id=str(uuid.uuid4()),
                             extended_request_id="simulated", started=time.perf_counter())
        asyncio.run(_run(gateway, ctx))
    finally:
        gateway.close()
    result = explanation(ctx)
    if ctx.error is None:
        result["because"] = "the request passes every check up to the integration, which simulate does not call"
    return result
