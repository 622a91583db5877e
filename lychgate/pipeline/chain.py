"""The chain runner: request stages, then the gateway response on error, then response stages.

Three phases with fixed guarantees (shared/style.md §4):
1. request stages run in order until one sets ``ctx.response`` or raises a ``GatewayError``,
   which is rendered here, in one place, through ``responses.render``;
2. response stages always run, after errors too; their own failures are logged, never raised;
3. finalizers run after the response is sent and can never change it.
An unexpected exception fails closed: logged with the request id, answered as a generic 500
without internals.

Per-request work follows what the route needs: the locating stages run first (API, stage,
route); then a *plan* for that stage and route, made once and kept on the API's runtime, lists
only the stages that apply to it. A stage marked ``@applies_when(predicate)`` is left out of a
route's plan when the predicate, which reads configuration only, is false for it.

A stage is a function of the context that returns None, or an awaitable when it has to wait.
An ``async def`` stage always returns one. A plain function may return a coroutine on the paths
that wait (a Lambda authorizer, a shared store) and None on the others (NONE, AWS_IAM, the memory
store), which then cost no coroutine.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, Sequence

from lychgate import responses
from lychgate.errors import ApiConfigurationError, GatewayError
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.variables import lookup_for

LOG = logging.getLogger(__name__)
Stage = Callable[[RequestContext], "Awaitable[None] | None"]


def applies_when(predicate: Callable[[RequestContext], bool]):
    """Mark a stage as needed only for the routes where ``predicate(ctx)`` is true; the
    predicate may read ``ctx.gateway``, ``ctx.api``, ``ctx.stage`` and ``ctx.route.method`` only."""
    def mark(stage: Stage) -> Stage:
        stage.applies = predicate
        return stage
    return mark


class Plan:
    """The stages one route of one stage runs, after the locating stages (slots, not a
    NamedTuple: read three times per request, and a slot reads several times faster)."""

    __slots__ = ("request", "response", "finalizers")

    def __init__(self, request: tuple[Stage, ...], response: tuple[Stage, ...], finalizers: tuple[Stage, ...]):
        self.request, self.response, self.finalizers = request, response, finalizers


class Pipeline:
    def __init__(self, locate_stages: Sequence[Stage], request_stages: Sequence[Stage],
                 response_stages: Sequence[Stage], finalizers: Sequence[Stage], dry_run: bool = False):
        self.locate_stages = tuple(locate_stages)
        self.request_stages = tuple(request_stages)
        self.response_stages = tuple(response_stages)
        self.finalizers = tuple(finalizers)
        self.dry_run = dry_run  # stops before the integration: no response is not an error

    async def run(self, ctx: RequestContext) -> None:
        """Run the request and response phases; ``ctx.response`` is set afterwards."""
        # The two loops are written out here, not in a helper coroutine: two coroutines less per request.
        try:
            for stage in self.locate_stages:
                pending = stage(ctx)
                if pending is not None:
                    await pending
                if ctx.response is not None:
                    break
            else:
                ctx.plan = self.plan_for(ctx)
                for stage in ctx.plan.request:
                    pending = stage(ctx)
                    if pending is not None:
                        await pending
                    if ctx.response is not None:
                        break
        except GatewayError as exc:
            self._answer_error(ctx, exc)
        except Exception as exc:
            LOG.exception("%s internal error in the request pipeline", ctx.request_id)
            self._answer_error(ctx, ApiConfigurationError(detail=f"internal error: {type(exc).__name__}"))
        if ctx.response is None:
            if self.dry_run:
                return
            self._answer_error(ctx, ApiConfigurationError(detail="no stage produced a response"))
        self._run_guarded(ctx.plan.response if ctx.plan else self.response_stages, ctx)
        ctx.response_latency_ms = int((time.perf_counter() - ctx.started) * 1000)

    def plan_for(self, ctx: RequestContext) -> Plan:
        """The plan of the located stage and route, made on first use."""
        key = (id(self), ctx.stage.name, id(ctx.route.method))
        plan = ctx.api.plans.get(key)
        if plan is None:
            def needed(stage: Stage) -> bool:
                applies = getattr(stage, "applies", None)
                return applies is None or bool(applies(ctx))
            plan = ctx.api.plans[key] = Plan(tuple(filter(needed, self.request_stages)),
                                             tuple(filter(needed, self.response_stages)),
                                             tuple(filter(needed, self.finalizers)))
        return plan

    def _answer_error(self, ctx: RequestContext, error: GatewayError) -> None:
        ctx.error = error
        ctx.trace.add("gateway_response", error.response_type, error.detail)
        api = ctx.api.api if ctx.api is not None else None
        ctx.response = responses.render(error, api, lookup_for(ctx))

    def finish(self, ctx: RequestContext) -> None:
        """Run the finalizers (after the response was sent)."""
        self._run_guarded(ctx.plan.finalizers if ctx.plan else self.finalizers, ctx)

    @staticmethod
    def _run_guarded(stages: Sequence[Stage], ctx: RequestContext) -> None:
        for stage in stages:
            try:
                stage(ctx)
            except Exception:
                LOG.exception("%s %s failed", ctx.request_id, getattr(stage, "__name__", stage))
