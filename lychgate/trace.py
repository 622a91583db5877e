"""The decision trace: what each stage of the pipeline decided for one request, and why.

Steps are cheap tuples-in-a-list recorded on the request path; nothing is formatted unless a log
line or an explanation asks for it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple


# Why a step decided as it did: the sentence, or what makes it when someone reads the trace: a
# callable, or a tuple (function, *arguments), which costs less to build than a closure.
Detail = str | Callable[[], str] | tuple


class TraceStep(NamedTuple):
    """One step as read (the trace records plain tuples of the same fields)."""

    stage: str  # the pipeline stage that recorded it, e.g. "match_route"
    outcome: str  # short verdict: "matched", "denied", "invoked", ...
    detail: Detail = ""  # one human sentence: why (formatted when read, see Detail)

    @property
    def text(self) -> str:
        detail = self.detail
        if type(detail) is tuple:
            return detail[0](*detail[1:])
        return detail() if callable(detail) else detail


class DecisionTrace:
    """Ordered steps of one request: recorded as plain tuples (the cheapest thing to build on
    the request path), read as ``TraceStep``s."""

    __slots__ = ("recorded",)

    def __init__(self) -> None:
        self.recorded: list[tuple] = []  # (stage, outcome, detail) per step

    def add(self, stage: str, outcome: str, detail: Detail = "") -> None:
        self.recorded.append((stage, outcome, detail))

    @property
    def steps(self) -> list[TraceStep]:
        return steps_of(self.recorded)

    def render(self) -> str:
        return "\n".join(f"{s.stage}: {s.outcome}" + (f" ({s.text})" if s.detail else "") for s in self.steps)


def steps_of(recorded: list[tuple]) -> list[TraceStep]:
    """Recorded ``(stage, outcome, detail)`` tuples as ``TraceStep``s."""
    return [TraceStep._make(step) for step in recorded]
