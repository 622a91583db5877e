"""The decision trace: what each stage of the pipeline decided for one request, and why.

Steps are cheap tuples-in-a-list recorded on the request path; nothing is formatted unless a log
line or an explanation asks for it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple


class TraceStep(NamedTuple):
    """A plain tuple on the request path: cheap to record."""

    stage: str  # the pipeline stage that recorded it, e.g. "match_route"
    outcome: str  # short verdict: "matched", "denied", "invoked", ...
    detail: str | Callable[[], str] = ""  # one human sentence: why (a callable is formatted on demand)

    @property
    def text(self) -> str:
        return self.detail() if callable(self.detail) else self.detail


_new_step = tuple.__new__  # a TraceStep without the Python-level __new__ of a NamedTuple


class DecisionTrace:
    """Ordered steps of one request."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[TraceStep] = []

    def add(self, stage: str, outcome: str, detail: str | Callable[[], str] = "") -> None:
        self.steps.append(_new_step(TraceStep, (stage, outcome, detail)))

    def render(self) -> str:
        return "\n".join(f"{s.stage}: {s.outcome}" + (f" ({s.text})" if s.detail else "") for s in self.steps)
