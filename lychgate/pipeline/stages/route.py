"""Stages that find what a request addresses: the API and stage, then the route."""

from __future__ import annotations

from lychgate import cors
from lychgate.authorizers import iam
from lychgate.errors import MissingAuthenticationToken
from lychgate.pipeline.context import RequestContext


def resolve_api(ctx: RequestContext) -> None:
    """API and stage from the Host (``{api}.execute-api.…``) or the path's first segment."""
    request = ctx.request
    host = request.header("host") or ""
    host = ctx.domain_name = host_without_port(host) if ":" in host or not host.islower() else host
    resolved = ctx.gateway.resolve(host, request.raw_path)
    if resolved is None:
        # No API or stage answers here; AWS's answer for an unknown stage is not confirmed:
        # docs/aws-behaviour.md "Unknown stage".
        raise MissingAuthenticationToken(detail=no_stage_detail(ctx.gateway, request.raw_path, host), cause="no_stage")
    ctx.api, ctx.stage, ctx.path, ctx.stage_prefixed = resolved
    ctx.trace.add("resolve_api", "resolved", (_resolved_text, ctx.api, ctx.stage))


def match_route(ctx: RequestContext) -> None:
    """The method (REST) or route (HTTP API) serving this request, with its path parameters."""
    match = ctx.api.router.match(ctx.request.method, ctx.path)
    if match is None:
        _unmatched(ctx)
        return
    ctx.route = match
    ctx.trace.add("match_route", "matched", (_matched_text, match))


def _unmatched(ctx: RequestContext) -> None:
    cors_config = ctx.api.api.cors
    if cors_config is not None and cors.is_preflight(ctx.request):
        # HTTP APIs with CORS answer preflights no route claims (spec §8).
        ctx.response = cors.preflight_response(cors_config, ctx.request)
        ctx.trace.add("match_route", "preflight", "answered by the API's CORS configuration")
        return
    # REST answers 403 Missing Authentication Token (or a SigV4 parse error when an
    # Authorization header is present, spec §1.1 step 2); HTTP APIs 404.
    detail = no_route_detail(ctx)
    if ctx.api.rest:
        raise iam.unmatched_route_error(ctx.request, detail)
    raise MissingAuthenticationToken(detail=detail, cause="no_route")


def _resolved_text(api, stage) -> str:
    return f"API {api.api.id}, stage {stage.name}"


def _matched_text(match) -> str:
    return f"{match.method.route_key} {match.path_parameters or ''}".strip()


def host_without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0].lower()


def no_stage_detail(gateway, raw_path: str, host: str) -> str:
    """Why no API stage answers, naming the stages that exist."""
    stages = [f"/{s}" if s != "$default" else "/ ($default)" for api in gateway.apis.values() for s in api.api.stages]
    first = raw_path.lstrip("/").split("/", 1)[0]
    return (f"no API stage serves {raw_path!r} on host {host!r}: the first path segment {first!r} is not a stage; "
            f"stages: {', '.join(stages)}")


def no_route_detail(ctx: RequestContext) -> str:
    near = ctx.api.router.near_misses(ctx.path)
    text = f"no route of stage {ctx.stage.name} matches {ctx.request.method} {ctx.path}"
    return f"{text}; this path has only: {', '.join(near)}" if near else text
