"""Explanations: a request's decision trace told with the cause first, for people and machines.

Built on demand from what the pipeline recorded (the error's cause code and sentence, the trace
steps), never on the request path. ``TraceRing`` keeps the last requests of a running gateway so
``lychgate explain REQUEST_ID`` can ask for them afterwards.
"""

from __future__ import annotations

from typing import NamedTuple

from lychgate.errors import GatewayError
from lychgate.pipeline.context import RequestContext
from lychgate.trace import TraceStep, steps_of


class TraceRecord(NamedTuple):
    """What an explanation needs of a request: small, so the request's own objects can go."""

    request_id: str
    extended_request_id: str
    method: str
    path: str
    status: int | None
    error: GatewayError | None
    recorded: list[tuple]  # the trace's (stage, outcome, detail) tuples

    @property
    def steps(self) -> list[TraceStep]:
        return steps_of(self.recorded)

    @classmethod
    def of(cls, ctx: RequestContext) -> TraceRecord:
        status = ctx.response.status if ctx.response is not None else None
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python call (every request makes one)
        return tuple.__new__(cls, (ctx.request_id, ctx.extended_request_id, ctx.request.method, ctx.request.raw_path,
                                   status, ctx.error, ctx.trace.recorded))


def explanation(record: TraceRecord) -> dict:
    """The JSON form: outcome, cause code, cause sentence, then every step."""
    error, status = record.error, record.status
    if error is None:
        outcome, cause, sentence = "allowed", None, "the request passed every check and reached its integration"
    else:
        outcome = "failed" if error.status >= 500 else "refused"
        cause, sentence = error.cause, error.detail or error.message or error.response_type
    return {
        "requestId": record.request_id, "method": record.method, "path": record.path,
        "status": status, "outcome": outcome, "cause": cause, "because": sentence,
        "responseType": error.response_type if error else None,
        "steps": [{"stage": s.stage, "outcome": s.outcome, "detail": s.text} for s in record.steps],
    }


def render_text(expl: dict) -> str:
    """A readable story, the cause first."""
    head = {"allowed": "Allowed", "refused": "Refused", "failed": "Failed"}[expl["outcome"]]
    status = f" ({expl['status']})" if expl["status"] is not None else ""
    lines = [f"{head}{status}: {expl['method']} {expl['path']}  [request {expl['requestId']}]"]
    if expl["cause"]:
        lines.append(f"because: {expl['because']}  [cause: {expl['cause']}]")
    lines.append("steps:")
    lines += [f"  {s['stage']}: {s['outcome']}" + (f" — {s['detail']}" if s["detail"] else "") for s in expl["steps"]]
    return "\n".join(lines)


def one_line(ctx: RequestContext) -> str:
    """The cause in one line, for the ``x-lychgate-explain`` header and the console."""
    error = ctx.error
    text = f"{error.cause}: {error.detail or error.message}" if error else "allowed"
    return text.replace("\r", " ").replace("\n", " ")


class TraceRing:
    """The last ``size`` requests' trace records, found by request id or extended request id
    (the one HTTP APIs answer in ``apigw-requestid``).

    A fixed ring of slots: adding is one store on every request's path; finding scans the ring,
    which only ``lychgate explain`` does.
    """

    def __init__(self, size: int = 1000):
        self.size = size
        self.slots: list[TraceRecord | None] = [None] * size
        self.next = 0

    def add(self, ctx: RequestContext) -> None:
        # A record, not the context: the request's objects are freed now, while they are still
        # in the CPU's caches, instead of a thousand requests later.
        self.slots[self.next] = TraceRecord.of(ctx)
        self.next = (self.next + 1) % self.size

    def get(self, request_id: str) -> TraceRecord | None:
        for record in self.slots:
            if record is not None and (record.request_id == request_id or record.extended_request_id == request_id):
                return record
        return None
