"""``lychgate simulate``: run the gateway's own pipeline on one request, offline, up to the integration.

The request is built exactly as a client would send it (PATH is the path on the wire, with the
stage for path-style URLs); ``--as NAME`` signs it with SigV4 as that user or role session using
its first access key. Same stages, same engines as the server, so the answer cannot drift.

A simulation starts as a freshly started gateway would: empty Lambda authorizer cache, full token
buckets, unused quotas. ``--after "METHOD PATH"`` sends earlier requests (same headers) through the
same gateway first, so what they leave behind (a cached authorizer policy, spent tokens or quota)
decides the simulated request as it would on a running gateway. Throttles and quotas count in
memory of their own: the project's store, which running gateways may share, is never spent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from lychgate.config.identities import AccessKey
from lychgate.config.model import Project
from lychgate.messages import Request
from lychgate.pipeline import build_pipeline
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.explain import TraceRecord, explanation
from lychgate.pipeline.runtime import Gateway
from lychgate.sigv4 import sign_headers
from lychgate.store.memory import MemoryStore
from lychgate.usage.throttle import Limiter


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


def parse_after(text: str) -> tuple[str, str]:
    """``"METHOD PATH"`` of an earlier request."""
    method, _, target = text.strip().partition(" ")
    if not method or not target.strip().startswith("/"):
        raise SimulateError(f"--after expects \"METHOD PATH\", e.g. \"GET /prod/pets\", found {text!r}")
    return method, target.strip()


async def _run(gateway: Gateway, contexts: list[RequestContext]) -> None:
    await gateway.load_keys()
    gateway.limiter = Limiter(MemoryStore())  # never spend the tokens of a store running gateways share
    pipeline = build_pipeline(until="throttle")
    for ctx in contexts:
        await pipeline.run(ctx)
    await gateway.store.close()


def _signed(project: Project, request: Request, key: AccessKey | None) -> Request:
    if key is not None:
        creds = key.credentials
        request.headers = sign_headers(request.method, request.raw_path, request.raw_query, request.headers,
                                       request.body, access_key_id=creds.access_key_id,
                                       secret_access_key=creds.secret_access_key,
                                       session_token=creds.session_token, region=project.region)
    return request


def simulate(project: Project, request: Request, key: AccessKey | None, after: Sequence[Request] = ()) -> dict:
    """The explanation of ``request``, sent after the ``after`` requests to the same fresh gateway."""
    gateway = Gateway(project, access_log=False)
    try:
        contexts = [RequestContext(gateway=gateway, request=_signed(project, each, key), request_id=str(uuid.uuid4()),
                                   extended_request_id="simulated", started=time.perf_counter())
                    for each in [*after, request]]
        asyncio.run(_run(gateway, contexts))
    finally:
        gateway.close()
    *earlier, ctx = contexts
    result = explanation(TraceRecord.of(ctx))
    if ctx.error is None:
        result["because"] = "the request passes every check up to the integration, which simulate does not call"
    if earlier:
        result["after"] = [{name: e[name] for name in ("method", "path", "status", "outcome", "cause")}
                           for e in (explanation(TraceRecord.of(each)) for each in earlier)]
    return result
